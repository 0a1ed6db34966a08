"""A study's trials as the meta-model sees them: the support set and the configurations taken.

MetaSampler reads the study afresh for every trial (as Optuna's own samplers do), so that any
storage and any number of workers see one history: finished trials become the support set, and
every trial, finished or not, marks its configuration as taken so that concurrent workers do
not propose it again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from metasearch.errors import MetasearchError
from metasearch.spaces import SearchSpace

__all__ = ["PROPOSAL_ATTR", "Support", "config_key", "read_support"]

PROPOSAL_ATTR = "metasearch:proposal"
"""Trial system attribute holding the flat parameters MetaSampler proposed for that trial."""


def config_key(x: np.ndarray) -> tuple[float, ...]:
    """A hashable key of an encoding; configurations that encode alike are one configuration."""
    return tuple(np.round(np.asarray(x, dtype=np.float64), 6).tolist())


@dataclass
class Support:
    """What the study tells the model about its task.

    Attributes:
        x: encodings of finished (complete or failed) trials in the model's space, ``(n, d)``.
        scores: their values oriented so higher is better; NaN for failed trials.
        taken: keys of every configuration already tried, queued, running or proposed.
        best_params: the flat parameters of the best finished trial (None before any).
    """

    x: np.ndarray
    scores: np.ndarray
    taken: set[tuple[float, ...]] = field(default_factory=set)
    best_params: dict[str, Any] | None = None

    @property
    def n_ok(self) -> int:
        """Support trials with a finite value."""
        return int(np.isfinite(self.scores).sum())


def encode_flat(space: SearchSpace, flat: Mapping[str, Any]) -> np.ndarray | None:
    """The encoding of Optuna's flat parameters, or None when they are no config of ``space``."""
    names = set(space.distributions())
    try:
        return space.encode(space.unflatten({k: v for k, v in flat.items() if k in names}))
    except (MetasearchError, ValueError, TypeError, KeyError):
        return None


def _oriented(trial: FrozenTrial, sign: float) -> float | None:
    if trial.state == TrialState.FAIL:
        return math.nan
    if trial.state != TrialState.COMPLETE or trial.values is None:
        return None
    value = float(trial.values[0])
    return sign * value if math.isfinite(value) else math.nan


def _claimed(trial: FrozenTrial) -> list[Mapping[str, Any]]:
    """Every flat configuration a trial stands for: its params, its queue entry, our proposal."""
    found: list[Mapping[str, Any]] = [trial.params]
    for attr in ("fixed_params", PROPOSAL_ATTR):
        value = trial.system_attrs.get(attr)
        if isinstance(value, Mapping):
            found.append({**value, **trial.params})
    return found


def read_support(space: SearchSpace, study: optuna.Study, trials: Sequence[FrozenTrial],
                 current: int) -> Support:
    """The support set and taken configurations of ``trials`` (trial ``current`` excluded).

    Pruned trials are skipped as support (their final value is unknown) but still count as
    taken; trials whose parameters are not a configuration of ``space`` are ignored.
    """
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    rows: list[np.ndarray] = []
    scores: list[float] = []
    taken: set[tuple[float, ...]] = set()
    best: tuple[float, dict[str, Any]] | None = None
    for trial in trials:
        if trial.number == current:
            continue
        for flat in _claimed(trial):
            x = encode_flat(space, flat)
            if x is not None:
                taken.add(config_key(x))
        score = _oriented(trial, sign)
        x = encode_flat(space, trial.params) if score is not None else None
        if x is not None and score is not None:
            rows.append(x)
            scores.append(score)
            if math.isfinite(score) and (best is None or score > best[0]):
                best = (score, dict(trial.params))
    width = space.encoding_length
    x_all = np.stack(rows) if rows else np.zeros((0, width))
    return Support(x_all, np.asarray(scores, dtype=np.float64), taken,
                   best[1] if best is not None else None)
