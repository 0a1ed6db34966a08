"""A study's trials as the meta-model sees them: the support set and the configurations taken.

MetaSampler reads the study afresh for every trial (as Optuna's own samplers do), so that any
storage and any number of workers see one history: finished trials become the support set, and
every trial, finished or not, marks its configuration as taken so that concurrent workers do
not propose it again. Encoding a trial is the costly part (about a millisecond), and a finished
trial never changes, so :class:`SupportCache` keeps each finished trial's encoding by its storage
id: a study of 1,000 trials is re-encoded in microseconds, whoever (thread or process) added
its trials, while unfinished trials are encoded afresh every time.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState
from scipy.spatial import cKDTree

from metasearch.errors import MetasearchError
from metasearch.samplers._optuna_private import trial_id
from metasearch.spaces import SearchSpace

__all__ = [
    "EVALUATED_ATTR",
    "MAX_CONDITIONING",
    "PROPOSAL_ATTR",
    "StorageCache",
    "Support",
    "SupportCache",
    "claim_signature",
    "conditioning_rows",
    "config_key",
    "config_keys",
    "encode_trial",
    "read_support",
    "trials_since_gain",
]

PROPOSAL_ATTR = "metasearch:proposal"
"""Trial system attribute holding the flat parameters MetaSampler proposed for that trial."""

EVALUATED_ATTR = "metasearch_config"
"""Trial user attribute holding the configuration the objective actually evaluated
(``EvalResult.config``, written by :class:`~metasearch.samplers.TaskObjective`): on a tabular
task the nearest row of the table, which may differ from the trial's parameters."""

MAX_CONDITIONING = 200
"""Support trials the surrogate and the prior's task weights condition on at most."""


GAIN_SHARE = 0.01
"""An improvement of the best completed value counts (:func:`trials_since_gain`) when it is at
least this share of the gap between the study's best and median completed values."""

NEAR = 1.0 / 256.0
"""Configurations this close to a taken one in every encoded column (unit, log scale for a
log parameter) are a repeat within rounding: about 8 bits of each parameter's range."""


def config_key(x: np.ndarray) -> tuple[float, ...]:
    """A hashable key of an encoding; configurations that encode alike are one configuration.

    The array's own ``round`` (what ``np.round`` calls, without its dispatch): a sampler keys
    a few thousand candidates per suggestion.
    """
    return tuple(np.asarray(x, dtype=np.float64).round(6).tolist())


def config_keys(x: np.ndarray) -> list[tuple[float, ...]]:
    """:func:`config_key` of each row of ``x`` (rounded in one pass: the same keys)."""
    return [tuple(row) for row in np.asarray(x, dtype=np.float64).round(6).tolist()]


@dataclass
class Support:
    """What the study tells the model about its task.

    Attributes:
        x: encodings of finished (complete or failed) trials in the model's space, ``(n, d)``.
        scores: their values oriented so higher is better; NaN for failed trials.
        taken: keys of every configuration already tried, queued, running or proposed
            (:meth:`near_taken` finds those within rounding of a configuration).
        best_params: the flat parameters of the best finished trial (None before any): the
            configuration it was evaluated at where the objective recorded one.
        stalled: finished trials since the last that improved the best completed value by a
            step that counts (:func:`trials_since_gain`); 0 before any.
    """

    x: np.ndarray
    scores: np.ndarray
    taken: set[tuple[float, ...]] = field(default_factory=set)
    best_params: dict[str, Any] | None = None
    stalled: int = 0

    _near_index: cKDTree | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_ok(self) -> int:
        """Support trials with a finite value."""
        return int(np.isfinite(self.scores).sum())

    def fresh(self, x: np.ndarray) -> np.ndarray:
        """Per row of ``x`` (encodings), whether its key is not in ``taken``."""
        return np.array([config_key(row) not in self.taken for row in x], dtype=bool)

    def near_taken(self, x: np.ndarray, within: float = NEAR) -> np.ndarray:
        """Per row of ``x`` (encodings), whether a taken configuration lies within ``within``
        of it in every encoded column (the Chebyshev distance on the unit encoding).

        A categorical's or a cell edge's one-hot columns differ by 1 between choices, so only
        configurations with the same choices can be near; numbers are near within ``within``
        of their (log) range. The index over ``taken`` is built once and again only when
        claims were added to it.
        """
        x = np.asarray(x, dtype=np.float64)
        if not self.taken or not len(x):
            return np.zeros(len(x), dtype=bool)
        if self._near_index is None or self._near_index.n != len(self.taken):
            self._near_index = cKDTree(np.array(list(self.taken), dtype=np.float64))
        distance, _ = self._near_index.query(x, k=1, p=np.inf, distance_upper_bound=within)
        return np.isfinite(distance)


def encode_flat(space: SearchSpace, flat: Mapping[str, Any]) -> np.ndarray | None:
    """The encoding of Optuna's flat parameters, or None when they are no config of ``space``."""
    names = set(space.distributions())
    try:
        return space.encode(space.unflatten({k: v for k, v in flat.items() if k in names}))
    except (MetasearchError, ValueError, TypeError, KeyError):
        return None


def _outcome(trial: FrozenTrial) -> float | None:
    """A finished trial's value as the support reads it: NaN for a failure (or a value that
    is not finite), None for a trial without a final value (pruned, running, waiting)."""
    if trial.state == TrialState.FAIL:
        return math.nan
    if trial.state != TrialState.COMPLETE or trial.values is None:
        return None
    value = float(trial.values[0])
    return value if math.isfinite(value) else math.nan


def _claimed(trial: FrozenTrial) -> list[Mapping[str, Any]]:
    """Every flat configuration a trial stands for: its params, its queue entry, our proposal."""
    found: list[Mapping[str, Any]] = [trial.params]
    for attr in ("fixed_params", PROPOSAL_ATTR):
        value = trial.system_attrs.get(attr)
        if isinstance(value, Mapping):
            found.append({**value, **trial.params})
    return found


class _Encoded(NamedTuple):
    """One trial as the model sees it: its parameters' encoding, the keys it claims, and (read
    once, as they never change after) a finished trial's outcome and last report."""

    x: np.ndarray | None
    keys: frozenset[tuple[float, ...]]
    value: float | None = None
    """:func:`_outcome`, not yet oriented."""
    last: float | None = None
    """:func:`_last_reported`, not yet oriented; None for an unfinished trial."""
    pruned: bool = False
    params: Mapping[str, Any] | None = None
    """The flat configuration ``x`` encodes: the evaluated one where it differs."""


def _evaluated(space: SearchSpace, trial: FrozenTrial) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The encoding and flat parameters of the configuration ``trial`` was evaluated at
    (:data:`EVALUATED_ATTR`), or None when the trial records none of ``space``."""
    given = trial.user_attrs.get(EVALUATED_ATTR)
    if not isinstance(given, Mapping):
        return None
    try:
        config = space.validate(dict(given))
        return space.encode(config), space.flatten(config)
    except (MetasearchError, ValueError, TypeError, KeyError):
        return None


def encode_trial(space: SearchSpace, trial: FrozenTrial) -> _Encoded:
    """``trial``'s encoding (None outside ``space``), every configuration key it claims, and
    its outcome and last report.

    Where the objective recorded the configuration it evaluated (:data:`EVALUATED_ATTR`; a
    table answers by its nearest row), the trial stands for that one: it is the trial's
    encoding, so the surrogate learns the value where it was measured, and it is claimed
    beside the parameters, so it is never proposed again.
    """
    x = encode_flat(space, trial.params)
    params: Mapping[str, Any] = trial.params
    keys = {config_key(x)} if x is not None else set()
    for flat in _claimed(trial)[1:]:
        claimed = encode_flat(space, flat)
        if claimed is not None:
            keys.add(config_key(claimed))
    evaluated = _evaluated(space, trial)
    if evaluated is not None:
        x, params = evaluated
        keys.add(config_key(x))
    finished = trial.state.is_finished()
    return _Encoded(x, frozenset(keys), _outcome(trial),
                    _last_reported(trial) if finished else None,
                    trial.state == TrialState.PRUNED, params)


def claim_signature(trial: FrozenTrial) -> Hashable | None:
    """Everything :func:`encode_trial` reads from a trial (its parameters, its queue entry and
    its proposal), as a hashable value; None when some value cannot be hashed."""
    parts = [trial.params, *(trial.system_attrs.get(a) for a in ("fixed_params", PROPOSAL_ATTR))]
    signature = tuple(tuple(p.items()) if isinstance(p, Mapping) else None for p in parts)
    try:
        hash(signature)
    except TypeError:
        return None
    return signature


@dataclass
class StorageCache:
    """What MetaSampler keeps about one storage between trials.

    Attributes:
        trials: finished trials' encodings by storage trial id. A finished trial's parameters,
            value and system attributes never change again and trial ids are unique within a
            storage, so an entry never goes stale; trials that other workers (threads or
            processes) finish are encoded on first sight.
        unfinished: running and waiting trials' encodings by storage trial id, each with the
            :func:`claim_signature` it was computed from and used only while the trial still
            has that signature (a running trial gains parameters and a proposal); dropped when
            the trial finishes. A study with many running trials (``n_jobs``, or several
            workers) is then not re-encoded for every suggestion.
    """

    trials: dict[int, _Encoded] = field(default_factory=dict)
    unfinished: dict[int, tuple[Hashable, _Encoded]] = field(default_factory=dict)

    def encoded(self, space: SearchSpace, trial: FrozenTrial) -> _Encoded:
        """``encode_trial(space, trial)``, from the cache where it holds the same answer."""
        key = trial_id(trial)
        entry = self.trials.get(key)
        if entry is not None:
            return entry
        if trial.state.is_finished():
            self.unfinished.pop(key, None)
            entry = self.trials[key] = encode_trial(space, trial)
            return entry
        signature = claim_signature(trial)
        held = self.unfinished.get(key)
        if held is not None and signature is not None and held[0] == signature:
            return held[1]
        entry = encode_trial(space, trial)
        if signature is not None:
            self.unfinished[key] = (signature, entry)
        return entry


class SupportCache:
    """A :class:`StorageCache` per storage object, held weakly (gone with its storage).

    A storage that cannot be held (unhashable, or not weak-referenceable) is not cached. Not
    thread-safe on its own: MetaSampler uses it under its lock.
    """

    def __init__(self) -> None:
        self._stores: weakref.WeakKeyDictionary[BaseStorage, StorageCache] = \
            weakref.WeakKeyDictionary()

    def of(self, storage: BaseStorage) -> StorageCache | None:
        """The cache of ``storage``; None when it cannot be cached."""
        try:
            return self._stores.setdefault(storage, StorageCache())
        except TypeError:
            return None


def _last_reported(trial: FrozenTrial) -> float | None:
    """The value a trial reported at its last step, or None (none, or not finite)."""
    if not trial.intermediate_values:
        return None
    value = float(trial.intermediate_values[max(trial.intermediate_values)])
    return value if math.isfinite(value) else None


def _reports_in_final_units(pairs: Sequence[tuple[float, float]]) -> bool:
    """Whether completed trials' last reports are their final values (same units and scale).

    ``pairs`` are (last reported, final) of completed trials. A study may report a loss and
    return an accuracy; only where the two agree (median gap within a tenth of the finals'
    spread, over at least two trials) is a pruned trial's last report a usable observation.
    """
    if len(pairs) < 2:
        return False
    last, final = np.asarray(pairs, dtype=np.float64).T
    spread = float(np.ptp(final)) or max(abs(float(np.median(final))), 1.0)
    return float(np.median(np.abs(last - final))) <= 0.1 * spread


def trials_since_gain(outcomes: Sequence[float | None], share: float = GAIN_SHARE) -> int:
    """Finished trials since the last that improved the best completed value by a step that
    counts: at least ``share`` of the gap between the best and the median completed value.

    ``outcomes`` are the finished trials in the order they were numbered: the value oriented so
    higher is better, or None (pruned, failed). A search that refines one spot moves the best
    by steps far below that gap, and such steps do not end a stall; the first completed value
    always counts. 0 with no finite value.
    """
    values = np.array([v for v in outcomes if v is not None and math.isfinite(v)])
    if not len(values):
        return 0
    step = share * (float(values.max()) - float(np.median(values)))
    best, last = -math.inf, 0
    for i, value in enumerate(outcomes):
        if value is not None and math.isfinite(value) and value > best + step:
            best, last = value, i
    return len(outcomes) - 1 - last


def read_support(space: SearchSpace, study: optuna.Study, trials: Sequence[FrozenTrial],
                 current: int, cache: StorageCache | None = None) -> Support:
    """The support set and taken configurations of ``trials`` (trial ``current`` excluded).

    A pruned trial is support too where the study's completed trials show that their last
    report is their final value (:func:`_reports_in_final_units`): its value is its last
    report, capped at the best completed value (a pruned trial never looks better than the
    incumbent, as Optuna's TPE ranks pruned trials below completed ones). Without it, a search
    whose pruner stops most trials conditions on a handful of completed ones and proposes
    again where the pruner keeps stopping it. Otherwise pruned trials only count as taken, as
    do running ones; trials whose parameters are not a configuration of ``space`` are
    ignored. ``cache`` keeps trials' encodings (see :class:`StorageCache`).
    A trial that records the configuration it was evaluated at stands for that one
    (:func:`encode_trial`).
    """
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    rows: list[np.ndarray] = []
    scores: list[float] = []
    taken: set[tuple[float, ...]] = set()
    best: tuple[float, dict[str, Any]] | None = None
    pruned: list[tuple[np.ndarray, float]] = []
    reports: list[tuple[float, float]] = []
    outcomes: list[float | None] = []  # finished trials', in the order they were numbered
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.number == current:
            continue
        entry = cache.encoded(space, trial) if cache is not None else encode_trial(space, trial)
        taken.update(entry.keys)
        x = entry.x
        score = None if entry.value is None else sign * entry.value
        last = None if entry.last is None else sign * entry.last
        if x is not None and entry.pruned and last is not None:
            pruned.append((x, last))
        if score is not None and math.isfinite(score) and last is not None:
            reports.append((last, score))
        if trial.state.is_finished():
            outcomes.append(score)
        if x is not None and score is not None:
            rows.append(x)
            scores.append(score)
            if math.isfinite(score) and (best is None or score > best[0]):
                best = (score, dict(entry.params if entry.params is not None else trial.params))
    if best is not None and pruned and _reports_in_final_units(reports):
        rows += [x for x, _ in pruned]
        scores += [min(last, best[0]) for _, last in pruned]
    width = space.encoding_length
    x_all = np.stack(rows) if rows else np.zeros((0, width))
    return Support(x_all, np.asarray(scores, dtype=np.float64), taken,
                   best[1] if best is not None else None, trials_since_gain(outcomes))


def conditioning_rows(scores: np.ndarray, cap: int = MAX_CONDITIONING) -> np.ndarray:
    """Indices of at most ``cap`` support trials, evenly spaced in rank, the best included.

    Exact GP conditioning costs ``O(n^3)`` and the prior's task weights ``O(n^2)`` in the
    support size, so past ``cap`` trials both condition on a subset (the "subset of data"
    approximation, Rasmussen & Williams, *Gaussian processes for machine learning*, 2006,
    section 8.3.1). Taking every ``n / cap``-th trial in score order, rather than a random or a
    top-heavy subset, keeps the incumbent and keeps each trial's quantile among the subset
    (the surrogate's target scale) what it is among all trials. Failed trials rank last.
    Deterministic, so every worker conditions alike; all rows when ``n <= cap``.
    """
    n = len(scores)
    if n <= cap:
        return np.arange(n)
    filled = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-filled, kind="stable")
    picks = np.unique(np.round(np.linspace(0, n - 1, cap)).astype(int))
    return np.sort(order[picks])
