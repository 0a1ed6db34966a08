"""The registry of samplers, pruners and methods that ``run`` and ``compare`` build from."""

from __future__ import annotations

from functools import cache
from typing import Any

import cell_tasks
import numpy as np
import optuna
import pytest
from synthetic_data import evaluated_dataset, shift_model

from metasearch.errors import MetasearchError
from metasearch.families import get_family
from metasearch.metamodel import MetaModel, TaskContext, TaskSplit
from metasearch.samplers import (
    METHODS,
    PRUNERS,
    SAMPLERS,
    MetaPruner,
    MetaSampler,
    SearchInputs,
    build_method,
    build_pruner,
    build_sampler,
)
from metasearch.samplers._warm_start import WarmStart, WarmStartCmaEs

FAMILY = get_family("shift")
SYNTHETIC = get_family("synthetic")


@cache
def _with_curves() -> MetaModel:
    """Portfolio, prior, RGPE and curves on 10 synthetic tasks: every method can build."""
    ids = SYNTHETIC.task_ids()[:10]
    data = evaluated_dataset(ids, 20, seed=0)
    return MetaModel.train(data, TaskSplit(train=tuple(ids)),
                           kinds=("portfolio", "prior", "rgpe", "curves"))


def _first(name: str, features: dict[str, float]) -> list[dict[str, Any]]:
    """The first five configurations method ``name`` tries on a task with ``features``.

    Each trial fails, so the study has no evidence that could end its portfolio early.
    """
    built = build_method(name, SearchInputs(seed=0, model=shift_model(), task_features=features,
                                            space=FAMILY.space, max_budget=FAMILY.max_budget))
    assert built.enqueue == []
    study = optuna.create_study(direction="maximize", sampler=built.sampler)
    out = []
    for _ in range(5):
        trial = study.ask()
        out.append(FAMILY.space.suggest(trial))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return out


def test_no_features_starts_with_the_uniform_portfolio() -> None:
    assert METHODS["no-features"].group == "ablation" and METHODS["no-features"].uses_model
    features = FAMILY.task(FAMILY.task_ids()[30]).meta_features
    portfolio: Any = shift_model().get("portfolio")
    assert _first("no-features", features) == portfolio.configs(5)
    assert _first("metasearch", features) == portfolio.configs(5, TaskContext(features))
    assert _first("metasearch", features) != _first("no-features", features)


SAMPLER_KIND = {"metasearch": MetaSampler, "random": optuna.samplers.RandomSampler,
                "tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler,
                "cmaes": optuna.samplers.CmaEsSampler, "ws-cmaes": WarmStartCmaEs,
                "ws-tpe": optuna.samplers.TPESampler}
PRUNED = {"metasearch", "no-warmstart", "no-handover", "no-prior", "no-surrogate",
          "rgpe-surrogate", "no-features"}


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_builds_its_sampler_pruner_and_first_trials(name: str) -> None:
    space = SYNTHETIC.space
    best = [space.flatten(space.sample(np.random.default_rng(1)))]
    warm = WarmStart("synthetic-0", best, [(best[0], 0.5)])
    spec = METHODS[name]
    built = build_method(name, SearchInputs(seed=3, model=_with_curves(), space=space,
                                            max_budget=SYNTHETIC.max_budget, warm=warm))
    assert isinstance(built.sampler, SAMPLER_KIND.get(name, MetaSampler))
    assert isinstance(built.pruner, MetaPruner) == (name in PRUNED)
    if name not in PRUNED:
        assert built.pruner is None
    assert built.enqueue == (best if name == "ws-tpe" else [])
    assert spec.uses_model == (spec.group != "cold-start")
    if spec.group == "cold-start":  # one description per sampler, in run and compare alike
        assert spec.description == SAMPLERS[name].description


def test_method_switches_reach_the_sampler() -> None:
    inputs = SearchInputs(seed=0, model=_with_curves(), task_features={"log_rows": 1.0},
                          space=SYNTHETIC.space, max_budget=SYNTHETIC.max_budget)
    plain: Any = build_method("metasearch", inputs).sampler
    assert plain._features == {"log_rows": 1.0}
    assert build_method("no-features", inputs).sampler._features is None  # type: ignore[attr-defined]
    assert plain._handover and not build_method("no-handover", inputs).sampler._handover  # type: ignore[attr-defined]
    untrusting: Any = build_method("no-trust", inputs).sampler
    assert plain._trust_prior and not untrusting._trust_prior
    x = SYNTHETIC.space.encode_many([SYNTHETIC.space.sample(np.random.default_rng(i))
                                     for i in range(12)])
    prior = _with_curves().get("prior")
    assert prior is not None
    backwards = TaskContext(x=x, scores=-np.asarray(prior.log_density(x)))
    assert plain._trust(backwards) == pytest.approx(10 / 22)  # tau -1 over 12 trials
    assert untrusting._trust(backwards) == 1.0
    one_step = build_method("metasearch", SearchInputs(seed=0, model=_with_curves()))
    assert one_step.pruner is None  # one step per trial: nothing to stop


def test_model_and_warm_start_methods_refuse_what_they_lack() -> None:
    with pytest.raises(MetasearchError, match="'no-prior' needs a meta-model"):
        build_method("no-prior", SearchInputs(seed=0))
    with pytest.raises(MetasearchError, match="needs a model with the rgpe component"):
        build_method("rgpe-surrogate", SearchInputs(seed=0, model=shift_model()))
    with pytest.raises(MetasearchError, match="most similar training task"):
        build_method("ws-tpe", SearchInputs(seed=0, model=shift_model()))
    with pytest.raises(MetasearchError, match="unknown method 'magic': expected one of"):
        build_method("magic", SearchInputs())


def test_run_names_samplers_and_pruners_from_the_same_registry() -> None:
    assert list(SAMPLERS) == ["meta", "tpe", "random", "gp", "cmaes"]
    assert list(PRUNERS) == ["none", "meta", "median"]
    assert build_pruner("none", SearchInputs()) is None
    assert isinstance(build_pruner("median", SearchInputs()), optuna.pruners.MedianPruner)
    cold: Any = build_sampler("meta", SearchInputs(seed=0))  # no model: MetaSampler cold-starts
    assert isinstance(cold, MetaSampler) and cold._model is None
    with pytest.raises(MetasearchError, match="unknown pruner 'magic': expected one of none"):
        build_pruner("magic", SearchInputs())


# -- each method does what its description says -------------------------------------------------


def _shift_trials(sampler: optuna.samplers.BaseSampler, n: int) -> list[dict[str, Any]]:
    """The parameters ``sampler`` tries in ``n`` trials of a held-out shift task."""
    task: Any = FAMILY.task(FAMILY.task_ids()[30])
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: task.final_value(FAMILY.space.suggest(t)), n_trials=n)
    return [t.params for t in study.trials]


@pytest.mark.parametrize(("name", "optuna_sampler"), [
    ("gp", lambda: optuna.samplers.GPSampler(seed=3)),
    ("cmaes", lambda: optuna.samplers.CmaEsSampler(seed=3)),
])
def test_gp_and_cmaes_search_as_optuna_s_own_samplers(name: str, optuna_sampler: Any) -> None:
    """Trial for trial what Optuna's sampler does, past the 10 random trials where GP and TPE
    start alike (so the check tells them apart)."""
    built = build_method(name, SearchInputs(seed=3))
    ours = _shift_trials(built.sampler, 12)
    assert ours == _shift_trials(optuna_sampler(), 12)
    assert ours != _shift_trials(build_method("tpe", SearchInputs(seed=3)).sampler, 12)
    assert built.pruner is None and built.enqueue == []


def _proposals(name: str, model: MetaModel, n: int) -> list[dict[str, Any]]:
    """What method ``name`` proposes in ``n`` trials of a held-out cell-only task."""
    features = cell_tasks.FAMILY.task(cell_tasks.HELD_OUT[2]).meta_features
    built = build_method(name, SearchInputs(seed=5, model=model, task_features=features,
                                            space=cell_tasks.SPACE, max_budget=1))
    study = optuna.create_study(direction="maximize", sampler=built.sampler)
    study.optimize(cell_tasks.objective(cell_tasks.HELD_OUT[2]), n_trials=n)
    return [t.params for t in study.trials]


def _meta_proposals(model: MetaModel, n: int) -> list[dict[str, Any]]:
    """What plain MetaSampler proposes with ``model`` in the same runs as :func:`_proposals`."""
    features = cell_tasks.FAMILY.task(cell_tasks.HELD_OUT[2]).meta_features
    sampler = MetaSampler(model, seed=5, task_features=features)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(cell_tasks.objective(cell_tasks.HELD_OUT[2]), n_trials=n)
    return [t.params for t in study.trials]


@pytest.mark.parametrize(("name", "component"), [("no-prior", "prior"),
                                                  ("rgpe-surrogate", "surrogate")])
def test_an_ablation_searches_as_its_model_without_the_component(name: str,
                                                                 component: str) -> None:
    """``no-prior`` draws no prior candidates and drops the piBO weight: it proposes what
    MetaSampler proposes with a model that has no prior. ``rgpe-surrogate``, on a model with
    both surrogates, proposes what MetaSampler does with RGPE the only one."""
    model = cell_tasks.cell_model()
    assert model.get("surrogate") is not None and model.get("rgpe") is not None
    ablated = _proposals(name, model, 10)
    assert ablated == _meta_proposals(model.without(component), 10)
    assert ablated != _proposals("metasearch", model, 10)
