"""The contract every meta-model component keeps: fit, save as arrays + JSON, load, ablate.

Each component (warm-start portfolio, learned prior, transfer surrogate, learning-curve model)
is fitted on a :class:`~metasearch.metamodel.MetaDataset` of training tasks, may early-stop on
validation tasks, and is saved as plain arrays (stored as tensors, loaded with
``weights_only=True``: never pickle) plus a JSON-ready dict. The comparison report switches
each one off on its own, so none may depend on another being present.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from metasearch.metamodel._data import MetaDataset

__all__ = ["Component", "FitReport", "TaskContext", "lacks_finished"]


@dataclass(frozen=True)
class TaskContext:
    """What is known of the task being searched: its meta-features and its support set.

    Attributes:
        meta_features: the task's data-set statistics (unscaled); None when unknown.
        x: encodings of the configurations tried so far, ``(n, d)``.
        scores: their final values oriented so higher is better; NaN for failed trials.
    """

    meta_features: Mapping[str, float] | None = None
    x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_support(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class FitReport:
    """What fitting measured: figures on the training and validation tasks, and seconds.

    Metric names say what they measure (e.g. ``spearman_at_5``, ``mae_after_3``); the CLI
    prints train next to validation so overfitting to meta-training tasks is visible.
    """

    train: Mapping[str, float] = field(default_factory=dict)
    validation: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    epochs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"train": dict(self.train), "validation": dict(self.validation),
                "seconds": self.seconds, "epochs": self.epochs}


class Component(ABC):
    """One switchable part of the meta-model.

    Attributes:
        kind: the component's key in the artifact and in ablations (``portfolio``, ...).
    """

    kind: ClassVar[str]

    def lacks(self, data: MetaDataset) -> str | None:
        """What ``data`` lacks that this component needs to be fitted (or scored), or None.

        Plain history (past Optuna studies: one value per trial, a few tasks) cannot feed
        every component; meta-training skips one that says what is missing instead of
        failing, and uses validation tasks only where they have what it needs.
        """
        return None

    @abstractmethod
    def fit(self, data: MetaDataset, validation: MetaDataset | None = None) -> FitReport:
        """Learn from the training tasks in ``data``; early-stop on ``validation`` if given."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as named numeric arrays (weights, stored configurations...)."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-ready hyperparameters and small state needed to rebuild the component."""

    @classmethod
    @abstractmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                data_space: Any) -> Component:
        """Rebuild a fitted component from :meth:`settings` and :meth:`arrays`.

        ``data_space`` is the family's :class:`~metasearch.spaces.SearchSpace` (needed by
        components that return configurations).
        """


def lacks_finished(data: MetaDataset, what: str) -> str | None:
    """Why ``data`` cannot teach ``what`` (no trial finished with a value), or None."""
    if any(h.ok.any() for h in data.tasks.values()):
        return None
    return f"{what} needs finished trials; none of {len(data.tasks)} task(s) has one"


def sub_arrays(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix``, with it stripped (a component's nested parts)."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def prefixed(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """``arrays`` with every name put under ``prefix`` (inverse of :func:`sub_arrays`)."""
    return {f"{prefix}{k}": v for k, v in arrays.items()}
