"""MetaSampler's fallback sampler never proposes a configuration the model's space forbids.

A model without portfolio, prior or surrogate leaves every trial to the fallback (TPE by
default, random here too); the space forbids ``a < b`` (a relation, 45% of the grid) and
``c == "p"`` with ``a`` in {9, 10}, and the objective pulls towards both (b - a is rewarded,
and so is ``c == "p"`` with a large ``a``), so a fallback that knew nothing of them proposes
forbidden configurations at once.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from metasearch.errors import SpaceError
from metasearch.metamodel import MetaModel, TaskSplit
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.spaces import AllOf, Categorical, Condition, Float, Int, Relation, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = SearchSpace(
    params=(Int("a", 1, 10), Int("b", 1, 10), Categorical("c", ("p", "q")),
            Float("x", 0.0, 1.0, condition=Condition("c", ("q",)))),
    forbidden=(Relation("a", "<", "b"), AllOf((Condition("c", ("p",)), Condition("a", (9, 10))))),
)


def model(space: SearchSpace = SPACE) -> MetaModel:
    """A meta-model with no component: MetaSampler defers every trial to its fallback."""
    return MetaModel("toy", space, "maximize", 1, TaskSplit(train=("t0",)))


def objective(trial: optuna.Trial) -> float:
    config = SPACE.suggest(trial)
    bonus = 2.0 * (config["c"] == "p") * config["a"] / 10
    return config["b"] - config["a"] + bonus + config.get("x", 0.0)


def configs(study: optuna.Study) -> list[dict[str, Any]]:
    return [SPACE.validate(t.params) for t in study.trials]


@pytest.mark.parametrize("fallback", ["tpe", "random"])
def test_the_fallback_never_proposes_a_forbidden_configuration(fallback: str) -> None:
    chosen = None if fallback == "tpe" else optuna.samplers.RandomSampler(seed=0)
    sampler = MetaSampler(model(), seed=0, fallback=chosen)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=40)
    found = configs(study)
    assert all(SPACE.allows(c) for c in found), [c for c in found if not SPACE.allows(c)]
    assert any(c["a"] == c["b"] for c in found)  # the edge of the relation is reached
    assert {c["c"] for c in found} == {"p", "q"}


def test_first_trials_sampled_independently_are_never_forbidden() -> None:
    """A study's first trial has no relative search space: every parameter is asked one by
    one (sample_independent), each judged with the values the trial holds already."""
    found = []
    for seed in range(40):
        sampler = MetaSampler(model(), seed=seed, fallback=optuna.samplers.RandomSampler(seed))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=1)
        found += configs(study)
    assert all(SPACE.allows(c) for c in found), [c for c in found if not SPACE.allows(c)]


def test_a_space_with_no_allowed_configuration_says_so() -> None:
    nothing = SearchSpace(params=(Int("a", 1, 3), Int("b", 5, 9)),
                          forbidden=(Relation("a", "<", "b"),))
    sampler = MetaSampler(model(nothing), seed=0)
    study = optuna.create_study(sampler=sampler)
    with pytest.raises(SpaceError, match=r"a < b\): the forbidden clauses rule out nearly all"):
        study.optimize(lambda t: float(sum(nothing.suggest(t).values())), n_trials=2)


def test_draws_that_break_no_clause_are_the_fallback_s_own() -> None:
    """The first allowed draw is kept, with no extra random numbers: a clause that never holds
    leaves the study trial for trial as it is without it."""
    free = SearchSpace(params=(Int("a", 5, 9), Int("b", 1, 4), *SPACE.params[2:]))
    never = SearchSpace(params=free.params, forbidden=(Relation("a", "<", "b"),))
    studies = []
    for space in (free, never):
        study = optuna.create_study(sampler=MetaSampler(model(space), seed=3))
        study.optimize(lambda t, s=space: float(s.suggest(t)["a"]), n_trials=15)
        studies.append([t.params for t in study.trials])
    assert studies[0] == studies[1]
