"""TaskObjective: what it records of every trial, pruned ones included."""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from metasearch.families import get_family
from metasearch.samplers import TaskObjective

FAMILY = get_family("synthetic")
PAUSE_S = 0.25


class _SlowRandomSampler(optuna.samplers.RandomSampler):
    """Optuna's random sampler that takes ``PAUSE_S`` over every trial's first parameter,
    as a costly sampler does (a real one; only its clock is slowed)."""

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if not trial.params:
            time.sleep(PAUSE_S)
        return super().sample_independent(study, trial, param_name, param_distribution)


def test_a_pruned_trial_costs_its_training_not_the_sampler_s_time() -> None:
    """A pruned trial records the seconds it trained until stopped, as a completed one does,
    never None and never the suggestion's seconds (which compare counts apart): before, a
    pruned trial's cost was read from its wall span and so held the sampler's time."""
    study = optuna.create_study(direction="maximize", sampler=_SlowRandomSampler(seed=0),
                                pruner=optuna.pruners.ThresholdPruner(upper=-1e9))
    objective = TaskObjective(FAMILY.task(FAMILY.task_ids()[0]), device="cpu", seed=0)
    study.optimize(objective, n_trials=3)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(pruned) == 3
    for trial in pruned:
        cost = trial.user_attrs["cost_s"]
        span = (trial.datetime_complete - trial.datetime_start).total_seconds()
        # The pause comes before training starts, inside the trial's span: a cost that held
        # it would leave less than PAUSE_S of the span outside.
        assert cost is not None and 0.0 < cost <= span - PAUSE_S
