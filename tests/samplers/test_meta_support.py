"""The support set MetaSampler conditions on: pruned trials count where their reports can."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from metasearch.samplers._meta_support import (
    config_key,
    config_keys,
    read_support,
    trials_since_gain,
)
from metasearch.spaces import Float, SearchSpace

SPACE = SearchSpace(params=(Float("x", 0.0, 1.0),))
DIST = {"x": FloatDistribution(0.0, 1.0)}


def _trial(x: float, state: TrialState, curve: list[float], value: float | None = None
           ) -> optuna.trial.FrozenTrial:
    return create_trial(params={"x": x}, distributions=DIST, state=state, value=value,
                        intermediate_values=dict(enumerate(curve)))


def _study(direction: str, trials: list[optuna.trial.FrozenTrial]) -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for trial in trials:
        study.add_trial(trial)
    return study


def test_pruned_trials_join_the_support_at_their_last_report_capped_at_the_best() -> None:
    study = _study("maximize", [
        _trial(0.1, TrialState.COMPLETE, [0.2, 0.5], 0.5),
        _trial(0.2, TrialState.COMPLETE, [0.3, 0.7], 0.7),
        _trial(0.3, TrialState.PRUNED, [0.1, 0.3]),
        _trial(0.4, TrialState.PRUNED, [0.9, 0.95]),  # reported above the best: capped at it
        _trial(0.5, TrialState.RUNNING, [0.6]),
    ])
    support = read_support(SPACE, study, study.get_trials(), current=-1)
    assert sorted(support.scores.tolist()) == [0.3, 0.5, 0.7, 0.7]
    assert support.best_params == {"x": 0.2}  # the incumbent is a completed trial
    assert len(support.taken) == 5  # pruned and running trials are taken all the same


def test_minimize_studies_are_oriented_and_capped_the_same_way() -> None:
    study = _study("minimize", [
        _trial(0.1, TrialState.COMPLETE, [2.0, 1.0], 1.0),
        _trial(0.2, TrialState.COMPLETE, [3.0, 2.0], 2.0),
        _trial(0.3, TrialState.PRUNED, [5.0, 4.0]),
    ])
    support = read_support(SPACE, study, study.get_trials(), current=-1)
    np.testing.assert_allclose(sorted(support.scores), [-4.0, -2.0, -1.0])


def test_reports_in_other_units_keep_pruned_trials_out() -> None:
    """A loss reported per epoch, an accuracy returned: the last report is no final value."""
    study = _study("maximize", [
        _trial(0.1, TrialState.COMPLETE, [2.5, 1.9], 0.61),
        _trial(0.2, TrialState.COMPLETE, [2.4, 1.2], 0.83),
        _trial(0.3, TrialState.PRUNED, [2.6, 2.2]),
    ])
    support = read_support(SPACE, study, study.get_trials(), current=-1)
    assert sorted(support.scores.tolist()) == [0.61, 0.83]
    assert len(support.taken) == 3


def test_config_keys_are_config_key_row_by_row() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.random((50, 7)), np.round(rng.random((10, 7)), 6) + 5e-7,
                   np.full((1, 7), -0.0)])
    keys = config_keys(x)
    assert keys == [config_key(row) for row in x]
    assert all(type(k) is tuple and all(type(v) is float for v in k) for k in keys)
    assert config_keys(np.zeros((0, 3))) == []


def test_a_stall_counts_the_finished_trials_since_the_last_gain_that_counts() -> None:
    # best 1.0, median 0.5: a gain counts from 0.005 up
    assert trials_since_gain([0.2, 0.5, 1.0, 0.3, None, float("nan"), 0.4]) == 4
    # median 0.4, best about 1: a gain counts from about 0.006; steps of 0.001 do not add up
    low = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert trials_since_gain([*low, 0.996, 0.997, 0.998, 0.3]) == 3
    assert trials_since_gain([*low, 0.996, 0.997, 1.003, 0.3]) == 1  # 0.007 does
    assert trials_since_gain([0.2, 0.5, 0.9, 0.92, 0.1]) == 1
    assert trials_since_gain([None, 0.4]) == 0  # the first completed value always counts
    assert trials_since_gain([None, float("nan")]) == 0
    assert trials_since_gain([]) == 0


def test_read_support_counts_the_stall_in_trial_order_pruned_and_failed_included() -> None:
    study = _study("minimize", [
        _trial(0.1, TrialState.COMPLETE, [0.9], 0.9),
        _trial(0.2, TrialState.COMPLETE, [0.2], 0.2),
        _trial(0.3, TrialState.PRUNED, [0.8]),
        _trial(0.4, TrialState.FAIL, []),
        _trial(0.5, TrialState.COMPLETE, [0.5], 0.5),
        _trial(0.6, TrialState.RUNNING, [0.6]),  # not finished: not counted
    ])
    trials = study.get_trials()
    assert read_support(SPACE, study, trials, current=-1).stalled == 3
    assert read_support(SPACE, study, trials[::-1], current=-1).stalled == 3  # by number
