"""Transfer surrogates: models that predict a new task's scores from a few of its trials.

Two answers to one question, so that the comparison report can ablate them:

* :class:`FSBOSurrogate` (gradient-based): a deep-kernel GP meta-trained on all training tasks
  (Wistuba & Grabocka, ICLR 2021);
* :class:`RGPESurrogate` (gradient-free): a ranking-weighted ensemble of one GP per training
  task (Feurer, Letham & Bakshy, 2018).

Both adapt to a :class:`~metasearch.metamodel.TaskContext` with ``adapt(context)`` and return
a predictor whose ``predict(x)`` gives the mean and standard deviation of the task's
quantile-normalized score (higher is better) at encoded configurations. Both are fitted and
reported with one metric, :func:`support_spearman`.

Names are loaded on first use (PEP 562), so importing this package imports neither torch nor
scipy's optimisers; torch is imported only when :class:`FSBOSurrogate` is first touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metasearch.metamodel.surrogates._common import (
        Predictor,
        SupportAdapter,
        quantile_normalize,
        support_spearman,
    )
    from metasearch.metamodel.surrogates._fsbo import FSBOConfig, FSBOPredictor, FSBOSurrogate
    from metasearch.metamodel.surrogates._rgpe import (
        RGPEPredictor,
        RGPESurrogate,
        ranking_losses,
    )
    from metasearch.metamodel.surrogates._target import TargetBlend, own_gp

_HOMES = {
    "FSBOConfig": "_fsbo",
    "FSBOPredictor": "_fsbo",
    "FSBOSurrogate": "_fsbo",
    "Predictor": "_common",
    "RGPEPredictor": "_rgpe",
    "RGPESurrogate": "_rgpe",
    "SupportAdapter": "_common",
    "TargetBlend": "_target",
    "ranking_losses": "_rgpe",
    "quantile_normalize": "_common",
    "support_spearman": "_common",
    "own_gp": "_target",
}

__all__ = [
    "FSBOConfig",
    "FSBOPredictor",
    "FSBOSurrogate",
    "Predictor",
    "RGPEPredictor",
    "RGPESurrogate",
    "SupportAdapter",
    "TargetBlend",
    "own_gp",
    "quantile_normalize",
    "ranking_losses",
    "support_spearman",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
