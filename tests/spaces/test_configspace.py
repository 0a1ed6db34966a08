"""The ConfigSpace JSON reader: types, conditions (parents first), and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metasearch.errors import SpaceError
from metasearch.spaces import (
    Categorical,
    Condition,
    Float,
    Int,
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
    ({"conditions": [{"type": "AND", "conditions": []}]}, "is not supported"),
    ({"conditions": [{"child": "n", "parent": "level", "type": "GT", "value": 1}]},
     "is not supported"),
    ({"forbiddens": [{"name": "kind", "type": "EQUALS", "value": "x"}]}, "forbidden"),
    ({"hyperparameters": [{"name": "q", "type": "normal_float", "mu": 0, "sigma": 1}]},
     "'normal_float' is not supported"),
    ({"hyperparameters": "none"}, "no list of 'hyperparameters'"),
])
def test_what_cannot_be_searched_is_refused(change: dict, problem: str) -> None:
    with pytest.raises(SpaceError, match=problem):
        space_from_configspace({**DOC, **change})


def test_a_condition_on_an_excluded_parent_is_refused() -> None:
    with pytest.raises(SpaceError, match="parent 'kind' is excluded"):
        space_from_configspace(DOC, exclude={"kind"})


def test_an_unreadable_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"missing\.json"):
        read_configspace_json(tmp_path / "missing.json")
