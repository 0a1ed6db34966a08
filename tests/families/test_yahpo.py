"""YAHPO Gym scenarios as families: a conditional toy scenario (a hand-written ONNX model that
echoes its inputs) and the shared rbv2_rpart / iaml_glmnet folders (skipped without them)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.families import BenchmarkDataError, get_family, set_data_path
from metasearch.families import _registry as registry
from metasearch.families._yahpo import YahpoFamily
from metasearch.spaces import Condition
from tests.families.onnx_echo import write_echo_model

pytest.importorskip("onnxruntime", reason="pip install 'metasearch[benchmarks]'")
DATA = Path(os.environ.get("METASEARCH_BENCHMARKS") or "/nonexistent")
needs_data = pytest.mark.skipif(
    not (DATA / "yahpo" / "rbv2_rpart").is_dir(),
    reason="YAHPO scenarios rbv2_rpart and iaml_glmnet (their published predictions) need "
    "$METASEARCH_BENCHMARKS set to the shared data (see the README)")
runner = CliRunner()

TOY_SPACE = {
    "hyperparameters": [
        {"name": "task_id", "type": "categorical", "choices": ["a", "b"]},
        {"name": "booster", "type": "categorical", "choices": ["gblinear", "gbtree"]},
        {"name": "eta", "type": "uniform_float", "lower": 0.001, "upper": 1.0, "log": True},
        {"name": "max_depth", "type": "uniform_int", "lower": 1, "upper": 15, "log": False},
        {"name": "grow", "type": "categorical", "choices": ["depth", "loss"]},
        {"name": "trainsize", "type": "uniform_float", "lower": 0.03, "upper": 1.0},
    ],
    "conditions": [
        {"child": "max_depth", "parent": "booster", "type": "IN", "values": ["gbtree"]},
        {"child": "grow", "parent": "booster", "type": "EQ", "value": "gbtree"},
    ],
    "forbiddens": [],
}
TOY_CAT = ["task_id", "booster", "grow"]
TOY_CONT = ["eta", "max_depth", "trainsize"]
TOY_SCENARIO = {"y_names": [*TOY_CAT, *TOY_CONT], "y_minimize": [False] * 6,
                "cont_names": TOY_CONT, "cat_names": TOY_CAT, "fidelity_params": ["trainsize"],
                "instance_names": "task_id", "metric": "trainsize"}
TOY_ENCODING = {"task_id": {"#na#": 0, "a": 1, "b": 2},
                "booster": {"#na#": 0, "gblinear": 1, "gbtree": 2},
                "grow": {"#na#": 0, "depth": 1, "loss": 2}}


@pytest.fixture(autouse=True)
def _registry_restored() -> Iterator[None]:
    """Families registered from a test's data folder do not outlive the test."""
    registry.discover()
    families, instances = dict(registry._FAMILIES), dict(registry._INSTANCES)
    yield
    registry._FAMILIES.clear()
    registry._FAMILIES.update(families)
    registry._INSTANCES.clear()
    registry._INSTANCES.update(instances)


def toy_scenario(root: Path, name: str = "toyxgb") -> Path:
    folder = root / "yahpo" / name
    folder.mkdir(parents=True)
    (folder / "config_space.json").write_text(json.dumps(TOY_SPACE))
    (folder / "encoding.json").write_text(json.dumps(TOY_ENCODING))
    (folder / "scenario.json").write_text(json.dumps(TOY_SCENARIO))
    write_echo_model(folder / "model.onnx")
    return folder


def test_a_new_folder_is_a_family_with_its_conditions(tmp_path: Path) -> None:
    toy_scenario(tmp_path)
    registry.family_names()  # the family files are loaded before the data is named
    set_data_path(tmp_path)
    family = get_family("yahpo-toyxgb")
    assert isinstance(family, YahpoFamily) and family.direction == "maximize"
    assert family.task_ids() == ["a", "b"] and family.max_budget == 10
    assert [p.name for p in family.space.params] == ["booster", "eta", "grow", "max_depth"]
    assert family.space.param("max_depth").condition == Condition("booster", ("gbtree",))
    assert family.space.param("grow").condition == Condition("booster", ("gbtree",))
    result = family.task("b").evaluate({"booster": "gbtree", "eta": 0.5, "max_depth": 7,
                                        "grow": "loss"})
    assert result.curve == pytest.approx([0.1 * k for k in range(1, 11)])


def test_inactive_parameters_are_fed_as_yahpo_trained_them(tmp_path: Path) -> None:
    toy_scenario(tmp_path)
    set_data_path(tmp_path)
    task = get_family("yahpo-toyxgb").task("a")
    linear = task.predict({"booster": "gblinear", "eta": 0.25}, 2)
    # x_cat: task a, gblinear, grow "#na#"; x_cont: eta, max_depth 0 (inactive), trainsize.
    np.testing.assert_allclose(linear, [[1, 1, 0, 0.25, 0, 0.1], [1, 1, 0, 0.25, 0, 0.2]])
    tree = task.predict({"booster": "gbtree", "eta": 0.25, "max_depth": 3, "grow": "depth"}, 1)
    np.testing.assert_allclose(tree, [[1, 2, 1, 0.25, 3, 0.1]])


def test_inactive_parameters_are_never_drawn(tmp_path: Path) -> None:
    toy_scenario(tmp_path)
    set_data_path(tmp_path)
    space = get_family("yahpo-toyxgb").space
    rng = np.random.default_rng(0)
    for config in (space.sample(rng) for _ in range(200)):
        assert ("max_depth" in config) == ("grow" in config) == (config["booster"] == "gbtree")


def test_a_folder_the_model_cannot_read_is_one_clear_error(tmp_path: Path) -> None:
    folder = toy_scenario(tmp_path)
    scenario = {**TOY_SCENARIO, "cat_names": ["task_id", "booster"]}
    (folder / "scenario.json").write_text(json.dumps(scenario))
    set_data_path(tmp_path)
    with pytest.raises(BenchmarkDataError, match=r"does not read \['grow'\]"):
        type(get_family("yahpo-toyxgb"))().space  # noqa: B018


def test_an_unknown_folder_without_a_definition_is_no_family(tmp_path: Path) -> None:
    (toy_scenario(tmp_path) / "scenario.json").unlink()
    set_data_path(tmp_path)
    assert "yahpo-toyxgb" not in registry.family_names()


@needs_data
def test_families_lists_the_shared_scenarios() -> None:
    result = runner.invoke(app, ["families", "--data", str(DATA), "--json"])
    assert result.exit_code == 0, result.output
    found = {f["name"]: f for f in json.loads(result.output)}
    rpart, glmnet = found["yahpo-rbv2_rpart"], found["yahpo-iaml_glmnet"]
    assert (rpart["n_tasks"], rpart["metric"], rpart["direction"]) == (117, "acc", "maximize")
    assert (glmnet["n_tasks"], glmnet["metric"], glmnet["direction"]) == (4, "mmce", "minimize")
    assert [p["name"] for p in rpart["space"]["params"]] == [
        "cp", "maxdepth", "minbucket", "minsplit", "num.impute.selected.cpo"]
    assert found["yahpo-lcbench"]["n_tasks"] == 34


# Predicted by yahpo-gym 1.0.2 (BenchmarkSet(scenario).objective_function, repl=10 for rbv2) on
# the same files, at trainsize 0.1, 0.5 and 1.0 (budget steps 1, 5 and 10).
YAHPO_REFERENCE = [
    ("yahpo-rbv2_rpart", "1040", {"cp": 0.01, "maxdepth": 12, "minbucket": 5, "minsplit": 20,
                                  "num.impute.selected.cpo": "impute.median"},
     [0.9887380599975586, 0.9911984205245972, 0.9915974140167236]),
    ("yahpo-rbv2_rpart", "41138", {"cp": 0.002, "maxdepth": 30, "minbucket": 1, "minsplit": 40,
                                   "num.impute.selected.cpo": "impute.hist"},
     [0.9641774296760559, 0.9695845246315002, 0.9711447954177856]),
    ("yahpo-iaml_glmnet", "1489", {"alpha": 0.3, "s": 0.05},
     [0.271833598613739, 0.27126646041870117, 0.26664865016937256]),
]


@needs_data
@pytest.mark.parametrize(("name", "task_id", "config", "expected"), YAHPO_REFERENCE)
def test_predictions_match_yahpo_gym(name: str, task_id: str, config: dict, expected: list,
                                     ) -> None:
    set_data_path(DATA)
    result = get_family(name).task(task_id).evaluate(config)
    assert len(result.curve) == 10 and result.config == config
    # One batched call for the 10 steps against yahpo-gym's one row: float32 rounding only.
    assert [result.curve[i] for i in (0, 4, 9)] == pytest.approx(expected, abs=1e-5)


# -- a scenario with conjunctions and a forbidden clause (the shape of rbv2_super) ---------------

SUPER_SPACE = {
    "hyperparameters": [
        {"name": "task_id", "type": "categorical", "choices": ["a", "b"]},
        {"name": "learner", "type": "categorical", "choices": ["svm", "xgb"]},
        {"name": "svm.kernel", "type": "categorical", "choices": ["linear", "poly"]},
        {"name": "svm.degree", "type": "uniform_int", "lower": 2, "upper": 5, "log": False},
        {"name": "xgb.eta", "type": "uniform_float", "lower": 0.001, "upper": 1.0, "log": True},
        {"name": "trainsize", "type": "uniform_float", "lower": 0.03, "upper": 1.0},
    ],
    "conditions": [
        {"child": "svm.kernel", "parent": "learner", "type": "EQ", "value": "svm"},
        {"child": "svm.degree", "type": "AND", "conditions": [
            {"child": "svm.degree", "parent": "svm.kernel", "type": "EQ", "value": "poly"},
            {"child": "svm.degree", "parent": "learner", "type": "EQ", "value": "svm"}]},
        {"child": "xgb.eta", "parent": "learner", "type": "EQ", "value": "xgb"},
    ],
    "forbiddens": [{"type": "AND", "clauses": [
        {"name": "svm.kernel", "type": "EQUALS", "value": "poly"},
        {"name": "svm.degree", "type": "EQUALS", "value": 5}]}],
}
SUPER_CAT = ["task_id", "learner", "svm.kernel"]
SUPER_CONT = ["svm.degree", "xgb.eta", "trainsize"]


def super_scenario(root: Path) -> None:
    folder = root / "yahpo" / "toysuper"
    folder.mkdir(parents=True)
    (folder / "config_space.json").write_text(json.dumps(SUPER_SPACE))
    (folder / "encoding.json").write_text(json.dumps({
        "task_id": {"#na#": 0, "a": 1, "b": 2}, "learner": {"#na#": 0, "svm": 1, "xgb": 2},
        "svm.kernel": {"#na#": 0, "linear": 1, "poly": 2}}))
    (folder / "scenario.json").write_text(json.dumps({
        **TOY_SCENARIO, "y_names": [*SUPER_CAT, *SUPER_CONT], "cont_names": SUPER_CONT,
        "cat_names": SUPER_CAT}))
    write_echo_model(folder / "model.onnx")


def test_a_scenario_with_conjunctions_and_forbiddens_is_searched_as_defined(
        tmp_path: Path) -> None:
    super_scenario(tmp_path)
    set_data_path(tmp_path)
    family = get_family("yahpo-toysuper")
    task = family.task("b")
    # svm with a linear kernel: degree inactive (its AND fails), fed as 0; eta inactive too
    np.testing.assert_allclose(
        task.predict({"learner": "svm", "svm.kernel": "linear", "svm.degree": 3}, 1),
        [[2, 1, 1, 0, 0, 0.1]])
    poly = task.evaluate({"learner": "svm", "svm.kernel": "poly", "svm.degree": 3})
    assert poly.status == "complete" and poly.config["svm.degree"] == 3
    banned = task.evaluate({"learner": "svm", "svm.kernel": "poly", "svm.degree": 5})
    assert banned.status == "failed" and banned.curve == ()
    assert "forbidden" in (banned.failure_reason or "")
    rng = np.random.default_rng(1)
    draws = [family.space.sample(rng) for _ in range(300)]
    assert all(family.space.validate(c) == c and family.space.allows(c) for c in draws)
    assert {c.get("svm.degree") for c in draws} == {None, 2, 3, 4}
    listed = runner.invoke(app, ["families", "yahpo-toysuper", "--data", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.output.split())
    assert "svm.degree int [2, 5] if svm.kernel in ['poly'] and learner in ['svm']" in text
    assert "forbidden: svm.kernel in ['poly'] and svm.degree in [5]" in text


SUPER_DATA = [name for name in ("rbv2_super", "iaml_super")
              if not (DATA / "yahpo" / name / "model.onnx").is_file()]


@pytest.mark.skipif(bool(SUPER_DATA), reason=f"YAHPO scenario folder(s) {SUPER_DATA} not "
                    "found under $METASEARCH_BENCHMARKS/yahpo (YAHPO Gym's data, v1.0.2; "
                    f"METASEARCH_BENCHMARKS={os.environ.get('METASEARCH_BENCHMARKS', 'unset')})")
def test_the_super_scenarios_load_with_their_conjunctions() -> None:
    result = runner.invoke(app, ["families", "--data", str(DATA), "--json"])
    assert result.exit_code == 0, result.output
    found = {f["name"]: f for f in json.loads(result.output)}
    for name, learner in (("yahpo-rbv2_super", "learner_id"), ("yahpo-iaml_super", "learner")):
        assert "error" not in found[name], found[name]
        space = get_family(name).space
        assert space.params[0].name == learner
        eta = space.param("xgboost.eta").condition
        assert eta is not None and eta.parents == {learner, "xgboost.booster"}
        config = space.sample(np.random.default_rng(0))
        assert get_family(name).task(get_family(name).task_ids()[0]).evaluate(
            config, 1).status == "complete"
