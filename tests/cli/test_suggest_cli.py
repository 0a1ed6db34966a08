"""``metasearch suggest`` end to end on a small real warehouse and model built here."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.errors import MetasearchError
from metasearch.families import get_family
from metasearch.samplers import TaskObjective, make_sampler
from metasearch.samplers._suggest import SUGGESTED_ATTR, suggest, table_meta_features

runner = CliRunner()
FAMILY = get_family("synthetic")
TEST_TASK = "synthetic-07"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A warehouse of 8 synthetic tasks and a model (models/synthetic) trained on the first 6."""
    folder = tmp_path_factory.mktemp("suggest")
    db = str(folder / "w.db")
    built = runner.invoke(app, ["warehouse", "build", "--family", "synthetic", "--tasks", "8",
                                "--trials", "30", "--warehouse", db])
    assert built.exit_code == 0, built.output
    ids = [f"synthetic-{i:02d}" for i in range(8)]
    split = folder / "split.json"
    split.write_text(json.dumps({"train": ids[:5], "validation": ids[5:6], "test": ids[6:]}))
    trained = runner.invoke(app, ["meta-train", "-f", "synthetic", "--warehouse", db,
                                  "--components", "portfolio,prior,surrogate", "--split",
                                  str(split), "--out", str(folder / "models" / "synthetic"),
                                  "--device", "cpu", "--json"])
    assert trained.exit_code == 0, trained.output
    return db


def features_args(task_id: str) -> list[str]:
    out: list[str] = []
    for name, value in FAMILY.task(task_id).meta_features.items():
        out += ["--features", f"{name}={float(value)!r}"]
    return out


def invoke(args: list[str]) -> Any:
    return runner.invoke(app, ["suggest", "--family", "synthetic", *args])


def test_suggestions_are_distinct_valid_and_predicted(warehouse: str) -> None:
    result = invoke(["--warehouse", warehouse, "-n", "4", "--json", "--seed", "0",
                     *features_args(TEST_TASK)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"].endswith("models/synthetic")
    rows = doc["suggestions"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    keys = {json.dumps(r["config"], sort_keys=True) for r in rows}
    assert len(keys) == 4
    for row in rows:
        FAMILY.space.validate(row["config"])
        assert row["source"] == "portfolio"  # the first trials of a study are the portfolio's
        assert 0.0 <= row["quantile"] <= 1.0
        assert math.isfinite(row["predicted"]) and row["uncertainty"] >= 0.0
    weights = [s["weight"] for s in doc["similar_tasks"]]
    assert weights == sorted(weights, reverse=True) and sum(weights) <= 1.0 + 1e-9
    assert {s["task"] for s in doc["similar_tasks"]} <= {f"synthetic-{i:02d}" for i in range(5)}


def test_predictions_stay_inside_the_past_tasks_range(warehouse: str) -> None:
    from metasearch.warehouse import Warehouse

    with Warehouse.open(warehouse) as store:
        trials = store.trials("synthetic")
    done = trials[trials["status"] == "complete"]["final_value"]
    result = invoke(["--warehouse", warehouse, "-n", "7", "--json", "--seed", "1"])
    assert result.exit_code == 0, result.output
    for row in json.loads(result.stdout)["suggestions"]:
        assert done.min() - 1e-9 <= row["predicted"] <= done.max() + 1e-9


def test_a_study_is_the_support_set_and_receives_the_suggestions(warehouse: str,
                                                                   tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize",
                                sampler=make_sampler("random", 0))
    study.optimize(TaskObjective(FAMILY.task(TEST_TASK), device="cpu"), n_trials=6)
    tried = {json.dumps(t.params, sort_keys=True) for t in study.trials}
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    result = invoke(["--warehouse", warehouse, "--storage", storage, "--study", "s", "-n", "3",
                     "--enqueue", "--json", *features_args(TEST_TASK)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_support"] == complete and doc["enqueued"] is True
    suggested = [json.dumps(r["params"], sort_keys=True) for r in doc["suggestions"]]
    assert not set(suggested) & tried
    reloaded = optuna.load_study(study_name="s", storage=storage)
    waiting = reloaded.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [json.dumps(t.system_attrs["fixed_params"], sort_keys=True) for t in waiting] \
        == suggested
    assert all(t.user_attrs[SUGGESTED_ATTR] for t in waiting)
    assert len(reloaded.trials) == 6 + 3  # nothing else was written


def test_plain_output_names_the_model_and_the_metric(warehouse: str) -> None:
    result = invoke(["--warehouse", warehouse, "-n", "2", *features_args(TEST_TASK)])
    assert result.exit_code == 0, result.output
    assert "meta-model" in result.stdout and FAMILY.metric in result.stdout


def test_meta_features_from_a_data_file(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["colour"] = ["red", "blue", "green"] * 50  # a non-numeric column is one-hot encoded
    frame.loc[3, "sepal length (cm)"] = float("nan")  # a hole is filled
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    features = table_meta_features(path, "target")
    assert features["n_rows"] == 150 and features["n_classes"] == 3
    assert features["n_features"] == 4 + 3
    assert all(math.isfinite(v) for v in features.values())


def test_tabular_mlp_from_a_data_file_with_the_shipped_model(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    path = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(path, index=False)
    result = runner.invoke(app, ["suggest", "--family", "tabular-mlp", "--data", str(path),
                                 "--target", "target", "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["meta_features"]["n_classes"] == 3.0
    assert len(doc["suggestions"]) == 2


def test_without_a_model_suggestions_come_from_the_fallback() -> None:
    result = suggest(FAMILY, model=None, n=3, seed=0)
    assert [s.source for s in result.suggestions] == ["cold-start"] * 3
    assert all(s.predicted is None for s in result.suggestions)
    assert result.similar == [] and result.model is None


def _error(args: list[str]) -> str:
    result = invoke(args)
    assert result.exit_code != 0
    assert isinstance(result.exception, MetasearchError), result.output
    return str(result.exception)


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "x.csv"], "--data and --target go together"),
    (["--features", "width"], "name=value"),
    (["--features", "a=1", "--features", "a=2"], "given twice"),
    (["--features", "a=nan"], "not finite"),
    (["--features", "a=big"], "not a number"),
    (["--enqueue"], "--enqueue needs"),
    (["--study", "s"], "--storage and --study go together"),
    (["-n", "0"], "at least 1"),
    (["--model", "/nonexistent/model"], "metadata.json is missing"),
    (["--features", "no_such_feature=1"], "none of the given meta-features"),
])
def test_bad_input_is_one_clear_error(args: list[str], message: str) -> None:
    assert message in _error(args)


def test_a_missing_target_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "b": [0, 1, 0, 1]}).to_csv(path, index=False)
    assert "target column 'label' is not in" in _error(["--data", str(path), "--target",
                                                        "label"])


def test_a_study_of_the_other_direction_is_refused(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=storage, study_name="m", direction="minimize")
    assert "optimizes minimize" in _error(["--storage", storage, "--study", "m"])
    assert "no study 'x'" in _error(["--storage", storage, "--study", "x"])


def test_an_unknown_family_is_named() -> None:
    result = runner.invoke(app, ["suggest", "--family", "nope"])
    assert result.exit_code != 0 and "nope" in str(result.exception)


def test_a_family_stored_only_in_the_warehouse_gets_its_models_suggestions(
        tmp_path: Path) -> None:
    from plain_history import FAMILY as MINE
    from plain_history import history_warehouse

    where = history_warehouse(tmp_path, n_tasks=3, n_trials=8)
    trained = runner.invoke(app, ["meta-train", "-f", MINE, "-w", where, "--components",
                                  "portfolio,prior", "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(app, ["suggest", "-f", MINE, "-w", where, "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == str(tmp_path / "models" / MINE)
    assert [s["source"] for s in doc["suggestions"]] == ["portfolio", "portfolio"]
    assert set(doc["suggestions"][0]["config"]) == {"lr", "depth", "criterion"}
    missing = runner.invoke(app, ["suggest", "-f", MINE, "-w", where, "--model",
                                  str(tmp_path / "none")])
    assert missing.exit_code != 0 and "metadata.json is missing" in str(missing.exception)


def test_suggest_shows_why_past_tasks_weigh(tmp_path: Path) -> None:
    """Beside the heaviest past tasks, their values of the features the model weighs."""
    from synthetic_data import shift_model

    folder = tmp_path / "shift-model"
    shift_model().save(folder)
    shift = get_family("shift")
    features = shift.task("shift-30").meta_features
    args = ["suggest", "--family", "shift", "--model", str(folder), "--warehouse",
            str(tmp_path / "w.db"), "-n", "2", "--seed", "0"]
    for name, value in features.items():
        args += ["--features", f"{name}={value!r}"]
    args += ["--features", "n_rowz=3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "(this task)" in result.output and "n_rows" in result.output
    assert "and why" in result.output
    assert "n_rowz" in result.output and "not used" in result.output
    plain = runner.invoke(app, args[:-2])
    assert plain.exit_code == 0 and "n_rowz" not in plain.output
