"""Every use of Optuna's private API in metasearch, each with why no public API serves.

Optuna's private names change without notice: OptunaHub's ``MetaLearnTPESampler`` fails on
Optuna 5.0 at its first meta-learned trial because ``TPESampler._gamma`` became lazy. So
metasearch reaches into Optuna here and nowhere else, each use is tested on the installed Optuna
(``tests/samplers/test_optuna_private.py``: it fails on a version that moves or changes one),
and ``pyproject.toml`` admits only the Optuna versions CI runs those tests on.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

__all__ = ["contains", "set_trial_system_attr", "storage_of", "trial_id", "trials_snapshot"]


def trials_snapshot(study: optuna.Study, states: Container[TrialState] | None = None
                    ) -> list[FrozenTrial]:
    """The study's trials as read once for the current trial, not copied (do not mutate them).

    Private: ``Study._get_trials(deepcopy=False, states=states, use_cache=True)``. The public
    ``Study.get_trials`` reads the storage again on every call; a sampler's hooks run several
    times per trial (once per parameter asked define-by-run), and Optuna's own samplers (TPE,
    GP) read this per-trial snapshot for that reason. It also keeps one trial's answers
    consistent while other workers finish trials meanwhile.
    """
    return study._get_trials(deepcopy=False, states=states, use_cache=True)


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage ``study`` lives in.

    Private: ``Study._storage``; Optuna has no public accessor. MetaSampler keys what it keeps
    per study storage by it (each trial's proposal, and finished trials' encodings, which a
    storage never changes once a trial is finished) and writes through it
    (:func:`set_trial_system_attr`).
    """
    return study._storage


def trial_id(trial: FrozenTrial) -> int:
    """The storage's id of ``trial``: unique within a storage, unlike ``trial.number``.

    Private: ``FrozenTrial._trial_id``. Storage methods (public ``BaseStorage`` API) take it,
    and trials of two studies in one storage share numbers, so a per-storage cache cannot key
    by number.
    """
    return trial._trial_id


def set_trial_system_attr(study: optuna.Study, trial: FrozenTrial, key: str,
                          value: Any) -> None:
    """Record ``key: value`` on the running ``trial`` for every worker of the study to read.

    ``BaseStorage.set_trial_system_attr`` is public, but a sampler is handed a
    :class:`FrozenTrial` and the study, neither of which writes a system attribute publicly
    (``Trial.set_system_attr``, deprecated in Optuna 3.1, is gone), so the storage and the
    trial's id are reached through :func:`storage_of` and :func:`trial_id`.
    """
    storage_of(study).set_trial_system_attr(trial_id(trial), key, value)


def contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is a value of ``dist`` (in range, on its step grid, one of its choices).

    Private: ``BaseDistribution._contains`` on the internal representation. No public method
    answers it; redoing it here would copy Optuna's rule for each distribution type, including
    its tolerance on a float step grid. A value that has no internal representation in ``dist``
    is not in it.
    """
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False
