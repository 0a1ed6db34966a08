"""``metasearch meta-train`` end to end on a small real warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.metamodel import MetaModel

runner = CliRunner()


def test_meta_train_saves_a_model_with_its_split(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    built = runner.invoke(app, ["warehouse", "build", "--family", "synthetic", "--tasks", "6",
                                "--trials", "25", "--warehouse", db])
    assert built.exit_code == 0, built.output
    split = tmp_path / "split.json"
    ids = [f"synthetic-{i:02d}" for i in range(6)]
    split.write_text(json.dumps({"train": ids[:4], "validation": ids[4:5], "test": ids[5:]}))
    out = tmp_path / "model"
    result = runner.invoke(app, ["meta-train", "-f", "synthetic", "--warehouse", db,
                                 "--components", "portfolio,prior", "--split", str(split),
                                 "--out", str(out), "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["split"] == {"train": 4, "validation": 1, "test": 1}
    model = MetaModel.load(out)
    assert model.split.test == ("synthetic-05",)
    assert model.info["warehouse"]["trials"] == 150
    assert set(model.components) == {"portfolio", "prior"}


def test_meta_train_on_a_family_not_in_the_warehouse_fails_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["meta-train", "-f", "synthetic",
                                 "--warehouse", str(tmp_path / "empty.db")])
    assert result.exit_code != 0
    assert "synthetic" in str(result.exception)


def test_defaults_on_plain_history_skip_curves_and_save_beside_the_warehouse(
        tmp_path: Path) -> None:
    from plain_history import FAMILY, history_warehouse

    where = history_warehouse(tmp_path, n_tasks=4, n_trials=10)
    result = runner.invoke(app, ["meta-train", "-f", FAMILY, "-w", where, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "curves: skipped: learning curves need max_budget >= 2" in result.output
    model = MetaModel.load(tmp_path / "models" / FAMILY)
    assert set(model.components) == {"portfolio", "prior", "surrogate", "rgpe"}
    assert set(model.info["skipped"]) == {"curves"}
    # The default is a model to use: every task trains, none is held out.
    assert model.split.validation == () and model.split.test == ()
    assert set(model.split.train) == {f"ds{i}" for i in range(4)}
    assert "no validation figures" in result.output


def _train_with_split(tmp_path: Path, n_tasks: int, split: str) -> tuple[dict, MetaModel]:
    """meta-train's portfolio and prior on ``n_tasks`` plain tasks of 6 trials with ``split``:
    its JSON summary and the saved model."""
    from plain_history import FAMILY, history_warehouse

    where = history_warehouse(tmp_path, n_tasks=n_tasks, n_trials=6)
    out = tmp_path / "model"
    result = runner.invoke(app, ["meta-train", "-f", FAMILY, "-w", where, "--split", split,
                                 "--components", "portfolio,prior", "--out", str(out),
                                 "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), MetaModel.load(out)


def test_split_heldout_keeps_validation_and_test_tasks_out(tmp_path: Path) -> None:
    summary, model = _train_with_split(tmp_path, 7, "heldout")
    assert summary["split"] == {"train": 5, "validation": 1, "test": 1}
    assert model.info["train_trials"] == 5 * 6  # the held-out tasks' trials reach nothing


def test_split_all_keeps_no_test_task_and_two_tasks_suffice(tmp_path: Path) -> None:
    _, model = _train_with_split(tmp_path, 2, "all")
    assert model.split.test == () and model.split.validation == ()
    assert set(model.split.train) == {"ds0", "ds1"}
    assert model.info["train_trials"] == 12  # both tasks' trials reach every component


@pytest.mark.postgres
def test_a_postgresql_warehouse_keeps_its_model_inside_for_every_worker(
        tmp_path: Path, postgres_schema) -> None:  # type: ignore[no-untyped-def]
    import warnings

    from plain_history import FAMILY, history_warehouse

    from metasearch.samplers import ColdStartWarning, MetaSampler

    url = history_warehouse(tmp_path, n_tasks=3, n_trials=8, url=postgres_schema())
    result = runner.invoke(app, ["meta-train", "-f", FAMILY, "-w", url, "--components",
                                 "portfolio,prior", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "model_files" in result.output and not (tmp_path / "models").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColdStartWarning)
        sampler = MetaSampler.from_warehouse(url, family=FAMILY)
    assert sampler.model is not None and set(sampler.model.components) == {"portfolio", "prior"}
