"""A search space inferred from the configurations of a family nobody registered.

When a table or an Optuna study brings trials of a family that has no file in
``task_families/``, its space is read off the values: booleans and strings become categoricals
(their distinct values, sorted), integers an ``Int`` and other numbers a ``Float`` between the
smallest and largest value seen, on a log scale when every value is positive and the largest is
at least :data:`LOG_RATIO` times the smallest (learning rates, weight decays, widths). Every
parameter must be present in every configuration: a conditional parameter needs a registered
family, since which parent value switches it on cannot be told from the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from metasearch.spaces import Categorical, Float, Hyperparameter, Int, SearchSpace

__all__ = ["LOG_RATIO", "infer_param", "infer_space", "plain"]

LOG_RATIO = 100.0


def plain(value: Any) -> Any:
    """``value`` as a plain Python scalar (numpy and pandas scalars unwrapped)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def infer_param(name: str, values: Sequence[Any]) -> Hyperparameter:
    """The narrowest hyperparameter that holds every one of ``values``.

    Raises:
        ValueError: the values mix kinds (numbers and strings) or include NaN or None.
    """
    values = [plain(v) for v in values]
    if not values:
        raise ValueError(f"parameter {name!r} has no value")
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        raise ValueError(f"parameter {name!r} is empty in some configuration")
    if all(isinstance(v, bool) for v in values) or all(isinstance(v, str) for v in values):
        return Categorical(name, tuple(sorted(set(values))))
    if any(isinstance(v, (bool, str)) or not isinstance(v, (int, float)) for v in values):
        kinds = sorted({type(v).__name__ for v in values})
        raise ValueError(f"parameter {name!r} mixes value types {kinds}")
    low, high = min(values), max(values)
    log = low > 0 and high >= LOG_RATIO * low
    if all(isinstance(v, int) for v in values):
        return Int(name, int(low), int(high), log=log)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"parameter {name!r} has an infinite value")
    return Float(name, float(low), float(high), log=log)


def infer_space(configs: Sequence[Mapping[str, Any]]) -> SearchSpace:
    """The space of ``configs``: one inferred hyperparameter per key, in sorted key order.

    Raises:
        ValueError: a key is missing from some configuration, or its values mix kinds.
    """
    names = sorted({key for config in configs for key in config})
    for name in names:
        missing = [i for i, config in enumerate(configs) if name not in config]
        if missing:
            raise ValueError(
                f"parameter {name!r} is missing from configuration {missing[0]}: a family "
                "inferred from data needs every parameter in every trial"
            )
    return SearchSpace(tuple(infer_param(n, [c[n] for c in configs]) for n in names))
