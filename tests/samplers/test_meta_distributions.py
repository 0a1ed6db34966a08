"""Issue 12, item 5: MetaSampler honours the distributions the study asks for.

The model knows the synthetic space; the objective asks for some of its parameters under
other distributions. Every trial must complete (TPE runs the same objective), every value must
lie in what the objective asked for, the mappable parameters carry the model's proposal, and
the others are sampled by the fallback with one debug log.
"""

from __future__ import annotations

import logging
import math
from functools import cache
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from synthetic_data import evaluated_dataset

from metasearch.families import get_family
from metasearch.metamodel import MetaModel, TaskSplit
from metasearch.samplers._meta_distributions import NOT_MAPPED, map_value, mappable
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.samplers._meta_support import PROPOSAL_ATTR

FAMILY = get_family("synthetic")


@cache
def model() -> MetaModel:
    ids = FAMILY.task_ids()
    data = evaluated_dataset(ids[:10], 30, seed=0)
    split = TaskSplit(train=tuple(ids[:8]), validation=tuple(ids[8:10]))
    return MetaModel.train(data, split, kinds=("portfolio", "prior", "rgpe"), seed=0)


def objective(trial: optuna.Trial) -> float:
    """The synthetic space, but asked for differently than the model knows it."""
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd"])  # a subset
    lr = trial.suggest_float("lr", 0.5, 2.0)  # linear, where the model's is log: not mapped
    decay = trial.suggest_float("weight_decay", 1e-4, 1e-2, log=True)  # narrower
    width = trial.suggest_int("width", 4, 2048, log=True)  # wider
    dropout = trial.suggest_float("dropout", 0.0, 0.5, step=0.1)  # narrower, on a grid
    momentum = trial.suggest_float("momentum", 0.0, 0.99)  # as the model knows it
    return (lr + decay * 10 + math.log(width) / 10 + dropout + momentum
            + (optimizer == "adam"))


def _run(sampler: optuna.samplers.BaseSampler, n: int = 8) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=n)  # no catch: a raising trial fails the test
    return study


def test_tpe_runs_the_objective() -> None:
    assert len(_run(optuna.samplers.TPESampler(seed=0), 4).trials) == 4


def test_meta_sampler_never_raises_and_stays_in_the_asked_space(
        caplog: pytest.LogCaptureFixture) -> None:
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.DEBUG, logger="metasearch.samplers._meta_sampler"):
            study = _run(MetaSampler(model(), seed=0))
    finally:
        optuna.logging.disable_propagation()
    states = {t.state for t in study.trials}
    assert states == {optuna.trial.TrialState.COMPLETE}
    for trial in study.trials:
        p = trial.params
        assert p["optimizer"] in ("adam", "sgd") and 0.5 <= p["lr"] <= 2.0
        assert 1e-4 <= p["weight_decay"] <= 1e-2 and 4 <= p["width"] <= 2048
        assert min(abs(p["dropout"] - g) for g in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)) < 1e-9
    lr_logs = [r for r in caplog.records if r.name.startswith("metasearch")
               and "'lr'" in r.getMessage()]
    assert len(lr_logs) == 1 and lr_logs[0].levelno == logging.DEBUG


def test_mappable_parameters_carry_the_models_proposal() -> None:
    study = _run(MetaSampler(model(), seed=0), n=3)
    dists = model().space.distributions()
    for trial in study.trials:
        proposal = trial.system_attrs[PROPOSAL_ATTR]
        for name in ("weight_decay", "width", "dropout", "momentum"):
            if name not in proposal:  # inactive in the proposal (momentum without sgd)
                continue
            expected = map_value(proposal[name], dists[name], trial.distributions[name])
            assert trial.params[name] == pytest.approx(expected), name
        if proposal["optimizer"] in ("adam", "sgd"):
            assert trial.params["optimizer"] == proposal["optimizer"]


@pytest.mark.parametrize(("model_dist", "asked", "value", "expected"), [
    (CategoricalDistribution(["a", "b", "c"]), CategoricalDistribution(["a", "b"]), "b", "b"),
    (CategoricalDistribution(["a", "b", "c"]), CategoricalDistribution(["a", "b"]), "c",
     NOT_MAPPED),
    (CategoricalDistribution(["a", "b"]), CategoricalDistribution(["a", "z"]), "a", NOT_MAPPED),
    (CategoricalDistribution([1, 2]), CategoricalDistribution(["1", "2"]), 1, NOT_MAPPED),
    (FloatDistribution(1e-5, 1, log=True), FloatDistribution(1e-3, 1e-2, log=True), 0.5, 1e-2),
    (FloatDistribution(1e-5, 1, log=True), FloatDistribution(1e-3, 1e-2), 5e-3, NOT_MAPPED),
    (FloatDistribution(0, 1), FloatDistribution(0, 0.5, step=0.1), 0.33, 0.3),
    (IntDistribution(8, 512, log=True), IntDistribution(16, 64, log=True), 300, 64),
    (IntDistribution(0, 10), IntDistribution(0, 10, step=2), 5, 4),
    (IntDistribution(0, 10), FloatDistribution(0, 10), 5, NOT_MAPPED),
])
def test_map_value(model_dist: Any, asked: Any, value: Any, expected: Any) -> None:
    got = map_value(value, model_dist, asked)
    if expected is NOT_MAPPED:
        assert got is NOT_MAPPED
    else:
        assert got == pytest.approx(expected) and asked._contains(asked.to_internal_repr(got))
    assert mappable(model_dist, asked) == (expected is not NOT_MAPPED or (model_dist.__class__
                                           is asked.__class__ is CategoricalDistribution
                                           and set(asked.choices) <= set(model_dist.choices)))
