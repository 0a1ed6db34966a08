"""A table answers a suggestion by its nearest row: no trial may be spent on a row tried before.

The objective below works as every tabular task does ("Lookup semantics" in the README): it
evaluates the nearest of its rows and records that row as the trial's ``metasearch_config``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState, create_trial

from metasearch.metamodel import MetaDataset, MetaModel, TaskSplit
from metasearch.metamodel._data import TaskHistory
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.samplers._meta_support import EVALUATED_ATTR, config_key, read_support
from metasearch.spaces import Float, SearchSpace

SPACE = SearchSpace(params=(Float("a", 0.0, 1.0), Float("b", 0.0, 1.0)))
ROWS = [SPACE.validate({"a": float(a), "b": float(b)})
        for a, b in np.random.default_rng(3).random((40, 2))]
X = SPACE.encode_many(ROWS)


def _value(x: np.ndarray, shift: float) -> float:
    return float(-np.sum((x - (0.6 + shift)) ** 2))


@cache
def _model() -> MetaModel:
    """Portfolio and prior on 5 tasks over the same 40 rows, optimum near (0.6, 0.6) (no
    surrogate: training one would cost seconds; the rule is the same without)."""
    scores = {f"t{t}": np.array([_value(x, 0.05 * t) for x in X]) for t in range(5)}
    data = MetaDataset("table", SPACE, "maximize", 1, {
        name: TaskHistory(name, {}, tuple(ROWS), X, s, s[:, None]) for name, s in scores.items()})
    return MetaModel.train(data, TaskSplit(train=("t0", "t1", "t2", "t3"), validation=("t4",)),
                           kinds=("portfolio", "prior"), seed=0)


def _table_objective(trial: optuna.Trial) -> float:
    x = SPACE.encode(SPACE.suggest(trial))
    row = int(np.argmin(((X - x) ** 2).sum(axis=1)))
    trial.set_user_attr(EVALUATED_ATTR, ROWS[row])
    return _value(X[row], 0.1)


def _rows_evaluated(choices: list[dict[str, Any]] | None, n: int) -> list[tuple[float, ...]]:
    sampler = MetaSampler(_model(), seed=0, n_candidates=32, choices=choices)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_table_objective, n_trials=n)
    return [config_key(SPACE.encode(t.user_attrs[EVALUATED_ATTR])) for t in study.trials]


def test_with_the_tables_rows_as_choices_no_row_is_evaluated_twice() -> None:
    rows = _rows_evaluated(ROWS, 40)
    assert len(set(rows)) == 40  # the whole table, each row once


def test_without_choices_the_table_answers_continuous_proposals_with_repeats() -> None:
    """What ``choices`` is for: proposals of the continuous space land on rows tried before."""
    rows = _rows_evaluated(None, 25)
    assert len(set(rows)) < 25


def test_a_trial_stands_for_the_configuration_it_was_evaluated_at() -> None:
    evaluated = ROWS[7]
    trial = create_trial(params={"a": 0.01, "b": 0.02}, distributions=SPACE.distributions(),
                         value=1.0, state=TrialState.COMPLETE,
                         user_attrs={EVALUATED_ATTR: evaluated})
    study = optuna.create_study(direction="maximize")
    study.add_trial(trial)
    support = read_support(SPACE, study, study.get_trials(), current=-1)
    np.testing.assert_allclose(support.x[0], SPACE.encode(evaluated))  # learnt where measured
    assert config_key(SPACE.encode(evaluated)) in support.taken
    assert config_key(SPACE.encode({"a": 0.01, "b": 0.02})) in support.taken
    assert support.best_params == SPACE.flatten(evaluated)
