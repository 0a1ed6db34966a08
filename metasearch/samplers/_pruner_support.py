"""What MetaPruner reads of a study: its completed trials' encodings, finals and curves, kept.

MetaPruner decides at every reported step of every trial, and each decision conditions the
curve model on the study's completed trials (their encodings, final values and curves).
Encoding a trial costs about a millisecond, so reading a study of 1,000 completed trials again
for every step cost a quarter of a second per step, more than the step's training on the
long-curve families. A completed trial never changes (its parameters, value and reports are
final) and its storage id is unique within its storage, so :class:`CompletedCache` reads each
once per storage; the arrays assembled from them are kept for the exact list of completed
trials they were built from. A trial that another worker (thread or process) completes changes
that list, so it is read on first sight and no decision ever sees a stale study.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from metasearch.metamodel import TaskContext
from metasearch.metamodel.curves import Recalibration
from metasearch.samplers._meta_support import encode_flat
from metasearch.samplers._optuna_private import storage_of, trial_id
from metasearch.spaces import SearchSpace

__all__ = ["CompletedCache", "StudyCurves", "completed_curves", "trial_curve"]

MAX_VIEWS = 8
"""Assembled studies kept per storage (one per study a pruner serves there, most recent)."""


def trial_curve(trial: FrozenTrial, width: int) -> np.ndarray:
    """The trial's reported values in step order, NaN-padded (or cut) to ``width`` points."""
    values = [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]
    row = np.full(width, np.nan)
    shown = np.asarray(values[:width], dtype=np.float64)
    row[: len(shown)] = np.where(np.isfinite(shown), shown, np.nan)
    return row


class _Completed(NamedTuple):
    """One completed trial as the pruner reads it (not yet oriented by the direction)."""

    x: np.ndarray | None
    """Its encoding; None when its parameters are no configuration of the model's space."""
    value: float
    curve: np.ndarray


def _read(space: SearchSpace, trial: FrozenTrial, width: int) -> _Completed:
    return _Completed(encode_flat(space, trial.params), float(trial.values[0]),
                      trial_curve(trial, width))


@dataclass
class StudyCurves:
    """A study's completed trials (with a finite value) as a decision conditions on them.

    Attributes:
        context: the task's meta-features, and the encodings and oriented finals of the
            trials inside the model's space, in trial order.
        curves: their oriented curves ``(n, width)``; None when there are none.
        best: the best oriented final of all of them, inside the space or not.
        count: how many there are, inside the space or not.
        fixes: recalibrations measured on exactly these trials, by prefix length
            (``MetaPruner._study_calibration`` fills it).
    """

    context: TaskContext
    curves: np.ndarray | None
    best: float
    count: int
    fixes: dict[int, Recalibration | None] = field(default_factory=dict)


def _assemble(entries: Sequence[_Completed], sign: float, features: dict[str, float] | None,
              n_x: int) -> StudyCurves:
    inside = [e for e in entries if e.x is not None]
    x = np.stack([e.x for e in inside]) if inside else np.zeros((0, n_x))  # type: ignore[misc]
    scores = np.asarray([sign * e.value for e in inside], dtype=np.float64)
    curves = np.stack([sign * e.curve for e in inside]) if inside else None
    best = max(sign * e.value for e in entries) if entries else -math.inf
    return StudyCurves(TaskContext(meta_features=features, x=x, scores=scores), curves, best,
                       len(entries))


def completed_curves(space: SearchSpace, done: Sequence[FrozenTrial], sign: float, width: int,
                     features: dict[str, float] | None) -> StudyCurves:
    """The :class:`StudyCurves` of the completed trials ``done``, read afresh (no cache)."""
    return _assemble([_read(space, t, width) for t in done], sign, features,
                     space.encoding_length)


@dataclass
class _StorageEntries:
    trials: dict[int, _Completed] = field(default_factory=dict)
    views: dict[tuple[float, tuple[int, ...]], StudyCurves] = field(default_factory=dict)


class CompletedCache:
    """:func:`completed_curves`, kept per storage (held weakly: gone with its storage).

    Completed trials are kept by storage id (final, and unique within a storage); an assembled
    :class:`StudyCurves` by the direction and the exact ids of the completed trials it holds,
    in order, so it is served only for that very list. A storage that cannot be held weakly
    is read afresh every time. Thread-safe: one pruner serves every thread of ``n_jobs``.

    Args:
        space: the model's search space (what trials are encoded in).
        width: the curve length (the model's full budget).
        features: the task's meta-features, put in every context.
    """

    def __init__(self, space: SearchSpace, width: int,
                 features: dict[str, float] | None) -> None:
        self._space, self._width, self._features = space, width, features
        self._stores: weakref.WeakKeyDictionary[BaseStorage, _StorageEntries] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def read(self, study: optuna.Study, done: Sequence[FrozenTrial], sign: float
             ) -> StudyCurves:
        """The :class:`StudyCurves` of ``study``'s completed trials ``done`` (in trial order)."""
        entries = self._entries(storage_of(study))
        if entries is None:
            return completed_curves(self._space, done, sign, self._width, self._features)
        ids = tuple(trial_id(t) for t in done)
        key = (sign, ids)
        with self._lock:
            view = entries.views.get(key)
        if view is not None:
            return view
        rows = [self._completed(entries, i, t) for i, t in zip(ids, done, strict=True)]
        view = _assemble(rows, sign, self._features, self._space.encoding_length)
        with self._lock:
            entries.views.pop(key, None)
            entries.views[key] = view
            while len(entries.views) > MAX_VIEWS:
                entries.views.pop(next(iter(entries.views)))
        return view

    def _entries(self, storage: BaseStorage) -> _StorageEntries | None:
        with self._lock:
            try:
                return self._stores.setdefault(storage, _StorageEntries())
            except TypeError:
                return None

    def _completed(self, entries: _StorageEntries, key: int, trial: FrozenTrial) -> _Completed:
        entry = entries.trials.get(key)
        if entry is None:
            entry = _read(self._space, trial, self._width)
            with self._lock:
                entries.trials[key] = entry
        return entry
