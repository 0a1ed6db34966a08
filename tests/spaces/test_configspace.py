"""The ConfigSpace JSON reader: types, conditions (conjunctions and comparisons, parents
first), forbidden clauses, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metasearch.errors import SpaceError
from metasearch.spaces import (
    AllOf,
    Categorical,
    Condition,
    Float,
    Int,
    Relation,
    SearchSpace,
    read_configspace_json,
    space_from_configspace,
)

DOC = {
    "hyperparameters": [
        {"name": "a_child", "type": "uniform_float", "lower": 0.1, "upper": 1.0, "log": True},
        {"name": "kind", "type": "categorical", "choices": ["x", "y", "z"]},
        {"name": "level", "type": "ordinal", "sequence": ["low", "high"]},
        {"name": "n", "type": "uniform_int", "lower": 1, "upper": 9, "log": False},
        {"name": "fixed", "type": "constant", "value": "on"},
    ],
    "conditions": [{"child": "a_child", "parent": "kind", "type": "IN", "values": ["x", "y"]},
                   {"child": "n", "parent": "level", "type": "EQ", "value": "high"}],
}


def test_types_and_conditions_with_parents_first(tmp_path: Path) -> None:
    path = tmp_path / "cs.json"
    path.write_text(json.dumps(DOC))
    space = read_configspace_json(path, exclude={"fixed"})
    assert [p.name for p in space.params] == ["kind", "a_child", "level", "n"]
    assert space.param("a_child") == Float("a_child", 0.1, 1.0, log=True,
                                           condition=Condition("kind", ("x", "y")))
    assert space.param("n") == Int("n", 1, 9, condition=Condition("level", ("high",)))
    assert space.param("level") == Categorical("level", ("low", "high"))
    assert space.validate({"kind": "z", "level": "low"}) == {"kind": "z", "level": "low"}


@pytest.mark.parametrize(("change", "problem"), [
    ({"conditions": [{"child": "n", "type": "XOR", "conditions": []}]}, "is not supported"),
    ({"conditions": [{"child": "n", "parent": "kind", "type": "GT", "value": "x"}]},
     "an order needs an ordinal parent"),
    ({"conditions": [{"child": "n", "parent": "kind", "type": "EQ", "value": "x"},
                     {"child": "n", "parent": "level", "type": "EQ", "value": "high"}]},
     "two separate conditions"),
    ({"forbiddens": [{"left": "n", "right": "a_child", "type": "RELATION",
                      "lambda": "LESSEQUAL"}]}, "forbidden clause .* is not supported"),
    ({"forbiddens": [{"left": "n", "right": "kind", "type": "RELATION_GT"}]},
     "'n > kind' compares values that never order together"),
    ({"forbiddens": [{"name": "nope", "type": "EQUALS", "value": "x"}]},
     "reads unknown parameter 'nope'"),
    ({"hyperparameters": [{"name": "q", "type": "normal_float", "mu": 0, "sigma": 1}]},
     "'normal_float' is not supported"),
    ({"hyperparameters": "none"}, "no list of 'hyperparameters'"),
])
def test_what_cannot_be_searched_is_refused(change: dict, problem: str) -> None:
    with pytest.raises(SpaceError, match=problem):
        space_from_configspace({**DOC, **change})


def test_a_condition_on_an_excluded_parent_is_refused() -> None:
    with pytest.raises(SpaceError, match="condition reads 'kind', which is excluded"):
        space_from_configspace(DOC, exclude={"kind"})


def test_an_unreadable_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"missing\.json"):
        read_configspace_json(tmp_path / "missing.json")


# -- conjunctions, comparisons and forbidden clauses ------------------------------------------

SUPER = {  # the shape of YAHPO's rbv2_super: a learner switches its own parameters on
    "hyperparameters": [
        {"name": "learner", "type": "categorical", "choices": ["svm", "xgboost", "rpart"]},
        {"name": "svm.kernel", "type": "categorical", "choices": ["linear", "poly", "radial"]},
        {"name": "svm.degree", "type": "uniform_int", "lower": 2, "upper": 5, "log": False},
        {"name": "svm.cost", "type": "uniform_float", "lower": 0.01, "upper": 100.0, "log": True},
        {"name": "xgboost.booster", "type": "categorical",
         "choices": ["gblinear", "gbtree", "dart"]},
        {"name": "xgboost.eta", "type": "uniform_float", "lower": 0.001, "upper": 1.0,
         "log": True},
        {"name": "xgboost.rate_drop", "type": "uniform_float", "lower": 0.0, "upper": 1.0},
        {"name": "depth", "type": "uniform_int", "lower": 1, "upper": 30},
        {"name": "level", "type": "ordinal", "sequence": ["low", "mid", "high"]},
        {"name": "width", "type": "uniform_int", "lower": 1, "upper": 8},
        {"name": "gap", "type": "uniform_float", "lower": 0.0, "upper": 1.0},
    ],
    "conditions": [
        {"child": "svm.kernel", "parent": "learner", "type": "EQ", "value": "svm"},
        {"child": "svm.cost", "parent": "learner", "type": "EQ", "value": "svm"},
        {"child": "svm.degree", "type": "AND", "conditions": [
            {"child": "svm.degree", "parent": "svm.kernel", "type": "EQ", "value": "poly"},
            {"child": "svm.degree", "parent": "learner", "type": "EQ", "value": "svm"}]},
        {"child": "xgboost.booster", "parent": "learner", "type": "EQ", "value": "xgboost"},
        {"child": "xgboost.eta", "type": "AND", "conditions": [
            {"child": "xgboost.eta", "parent": "xgboost.booster", "type": "IN",
             "values": ["dart", "gbtree"]},
            {"child": "xgboost.eta", "parent": "learner", "type": "EQ", "value": "xgboost"}]},
        {"child": "xgboost.rate_drop", "parent": "xgboost.booster", "type": "EQ",
         "value": "dart"},
        # nested: depth for rpart, or for xgboost's trees that are not dart
        {"child": "depth", "type": "OR", "conditions": [
            {"child": "depth", "parent": "learner", "type": "EQ", "value": "rpart"},
            {"child": "depth", "type": "AND", "conditions": [
                {"child": "depth", "parent": "learner", "type": "EQ", "value": "xgboost"},
                {"child": "depth", "parent": "xgboost.booster", "type": "NEQ",
                 "value": "dart"}]}]},
        {"child": "width", "parent": "level", "type": "GT", "value": "low"},
        {"child": "gap", "parent": "width", "type": "LT", "value": 4},
    ],
    "forbiddens": [
        {"type": "AND", "clauses": [
            {"name": "svm.kernel", "type": "EQUALS", "value": "poly"},
            {"name": "svm.degree", "type": "IN", "values": [4, 5]}]},
        {"name": "xgboost.booster", "type": "EQUALS", "value": "gblinear"},
    ],
}


def active(space: SearchSpace, config: dict) -> set[str]:
    return set(space.validate(config))


def test_conjunctions_nested_and_comparisons_decide_activity() -> None:
    space = space_from_configspace(SUPER)
    names = [p.name for p in space.params]
    assert names.index("svm.degree") > max(names.index("svm.kernel"), names.index("learner"))
    assert names.index("depth") > names.index("xgboost.booster")
    everything = {"learner": "svm", "svm.kernel": "poly", "svm.degree": 3, "svm.cost": 1.0,
                  "xgboost.booster": "dart", "xgboost.eta": 0.1, "xgboost.rate_drop": 0.5,
                  "depth": 4, "level": "mid", "width": 2, "gap": 0.5}
    assert active(space, everything) == {"learner", "svm.kernel", "svm.degree", "svm.cost",
                                         "level", "width", "gap"}
    assert "svm.degree" not in active(space, {**everything, "svm.kernel": "radial"})
    xgb = {**everything, "learner": "xgboost"}
    # dart: eta and rate_drop, no depth (the OR's second branch needs booster != dart)
    assert active(space, xgb) >= {"xgboost.eta", "xgboost.rate_drop"}
    assert "depth" not in active(space, xgb)
    tree = active(space, {**xgb, "xgboost.booster": "gbtree"})
    assert {"xgboost.eta", "depth"} <= tree and "xgboost.rate_drop" not in tree
    assert "depth" in active(space, {**everything, "learner": "rpart"})  # the OR's first branch
    # GT on an ordinal is "after it in the sequence"; LT on a number compares
    assert not {"width", "gap"} & active(space, {**everything, "level": "low"})
    assert "gap" not in active(space, {**everything, "width": 4})


def test_sampling_never_draws_inactive_or_forbidden() -> None:
    space = space_from_configspace(SUPER)
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(600)]
    for config in draws:
        assert space.validate(config) == config  # every drawn parameter is active
        assert config.get("xgboost.booster") != "gblinear"
        assert not (config.get("svm.kernel") == "poly" and config.get("svm.degree", 0) >= 4)
        assert space.allows(config)
    degrees = {c["svm.degree"] for c in draws if "svm.degree" in c}
    assert degrees == {2, 3}  # the forbidden degrees are never drawn; the others are
    assert {c.get("xgboost.booster") for c in draws} == {None, "gbtree", "dart"}
    assert space.forbidding({"learner": "svm", "svm.kernel": "poly", "svm.degree": 5,
                             "svm.cost": 1.0, "level": "low"}) == space.forbidden[0]
    # a forbidden clause over an inactive parameter forbids nothing
    assert space.allows({"learner": "rpart", "depth": 3, "level": "low"})


def test_inactive_values_never_reach_the_encoding() -> None:
    space = space_from_configspace(SUPER)
    base = {"learner": "rpart", "depth": 3, "level": "low"}
    stray = {**base, "svm.degree": 5, "svm.cost": 50.0, "xgboost.eta": 0.9, "width": 7}
    assert np.array_equal(space.encode(stray), space.encode(base))
    x = space.encode_many([stray, {**base, "svm.cost": 0.02}])
    assert np.array_equal(x[0], x[1])


def test_clauses_round_trip_and_keep_old_fingerprints() -> None:
    space = space_from_configspace(SUPER)
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space
    plain = space_from_configspace(DOC, exclude={"fixed"})
    assert "forbidden" not in plain.to_dict()
    assert plain.param("n").to_dict()["condition"] == {"parent": "level", "values": ["high"]}


def test_a_space_that_forbids_nearly_everything_says_so() -> None:
    doc = {"hyperparameters": [{"name": "k", "type": "categorical", "choices": ["a", "b"]}],
           "forbiddens": [{"name": "k", "type": "IN", "values": ["a", "b"]}]}
    with pytest.raises(SpaceError, match="forbidden clauses rule out nearly all"):
        space_from_configspace(doc).sample(np.random.default_rng(0))


def test_a_forbidden_clause_on_an_excluded_parameter_is_refused() -> None:
    doc = {**DOC, "forbiddens": [{"name": "fixed", "type": "EQUALS", "value": "on"}]}
    with pytest.raises(SpaceError, match="reads 'fixed', which is excluded"):
        space_from_configspace(doc, exclude={"fixed"})


# -- relations between two parameters -------------------------------------------------------------

RELATIONS = {  # as ConfigSpace 1.2.0's ConfigurationSpace.to_json writes them
    "hyperparameters": [
        {"type": "uniform_int", "name": "a", "lower": 1, "upper": 10, "log": False},
        {"type": "uniform_int", "name": "b", "lower": 1, "upper": 10, "log": False},
        {"type": "categorical", "name": "c", "choices": ["p", "q"]},
        {"type": "categorical", "name": "d", "choices": ["p", "q", "r"]},
        {"type": "uniform_float", "name": "x", "lower": 0.0, "upper": 1.0, "log": False},
        {"type": "uniform_float", "name": "y", "lower": 0.0, "upper": 1.0, "log": False},
    ],
    "conditions": [],
    "forbiddens": [
        {"type": "AND", "clauses": [{"type": "RELATION_EQ", "left": "c", "right": "d"},
                                    {"type": "EQUALS", "name": "a", "value": 5}]},
        {"type": "RELATION_LT", "left": "a", "right": "b"},
        {"type": "RELATION_GT", "left": "x", "right": "y"},
    ],
}


def test_relations_read_as_configspace_writes_them() -> None:
    space = space_from_configspace(RELATIONS)
    assert space.forbidden == (
        AllOf((Relation("c", "==", "d"), Condition("a", (5,)))),
        Relation("a", "<", "b"),
        Relation("x", ">", "y"),
    )
    assert [c.describe() for c in space.forbidden] == [
        "c == d and a in [5]", "a < b", "x > y"]


@pytest.mark.parametrize(("lam", "op"), [("LESS", "<"), ("EQUALS", "=="), ("GREATER", ">"),
                                         ("LT", "<"), ("EQ", "=="), ("GT", ">")])
def test_relations_in_the_older_spelling(lam: str, op: str) -> None:
    """ConfigSpace 0.x wrote ``RELATION`` with a ``lambda``; 1.x still reads LT, EQ, GT."""
    doc = {**RELATIONS, "forbiddens": [{"type": "RELATION", "left": "a", "right": "b",
                                        "lambda": lam}]}
    assert space_from_configspace(doc).forbidden == (Relation("a", op, "b"),)


def test_a_relation_compares_the_two_values() -> None:
    space = space_from_configspace(RELATIONS)
    base = {"a": 7, "b": 3, "c": "p", "d": "q", "x": 0.2, "y": 0.6}
    assert space.allows(base)
    assert space.forbidding({**base, "b": 8}) == Relation("a", "<", "b")
    assert space.allows({**base, "b": 7})  # equal is not less
    assert space.forbidding({**base, "x": 0.7}) == Relation("x", ">", "y")
    assert space.allows({**base, "d": "p"})  # c == d, but a is not 5
    assert not space.allows({**base, "a": 5, "b": 2, "d": "p"})
    # a relation over a missing (inactive) parameter holds on nothing
    assert not Relation("a", "<", "b").holds({"a": 1})
    assert not Relation("c", "<", "a").holds({"c": "p", "a": 3})  # a string and a number


def test_sampling_never_draws_a_forbidden_relation() -> None:
    space = space_from_configspace(RELATIONS)
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(500)]
    assert all(c["a"] >= c["b"] and c["x"] <= c["y"] for c in draws)
    assert not any(c["c"] == c["d"] and c["a"] == 5 for c in draws)
    assert any(c["a"] == c["b"] for c in draws) and any(c["c"] == c["d"] for c in draws)


def test_relations_round_trip_through_the_space_json() -> None:
    space = space_from_configspace(RELATIONS)
    text = json.dumps(space.to_dict())
    assert '{"left": "a", "op": "<", "right": "b"}' in text
    assert SearchSpace.from_dict(json.loads(text)) == space
    assert SearchSpace.from_dict(json.loads(text)).fingerprint() == space.fingerprint()


def test_a_relation_on_a_parameter_with_itself_is_refused() -> None:
    with pytest.raises(SpaceError, match="compares a parameter with itself"):
        Relation("a", "<", "a")
    with pytest.raises(SpaceError, match="is not one of"):
        Relation("a", "<=", "b")
