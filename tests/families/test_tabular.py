"""The one lookup rule of tabular tasks, and replay of a warehouse family built from a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metasearch.errors import MetasearchError
from metasearch.families import LookupTable, replay_family
from metasearch.metamodel._source import load_dataset
from metasearch.spaces import Categorical, Float, SearchSpace
from metasearch.warehouse import Warehouse, ingest_table

SPACE = SearchSpace(params=(Float("lr", 1e-4, 1.0, log=True),
                            Categorical("act", ("relu", "tanh"))))
CONFIGS = [{"lr": 1e-3, "act": "relu"}, {"lr": 1e-1, "act": "relu"}, {"lr": 1e-3, "act": "tanh"},
           {"lr": 1e-1, "act": "relu"}]
CURVES = np.array([[0.5, 0.6], [0.7, 0.8], [0.4, np.nan], [0.9, 1.0]])


def test_exact_hit_reports_the_suggestion_and_duplicates_average() -> None:
    table = LookupTable.build(SPACE, CONFIGS, CURVES)
    assert table.n_groups == 3
    group, config = table.lookup({"lr": 0.1, "act": "relu"})
    assert config == {"lr": 0.1, "act": "relu"}
    np.testing.assert_allclose(table.group_curve(group)[0], [0.8, 0.9])


def test_nearest_in_encoded_space_is_reported_as_evaluated() -> None:
    table = LookupTable.build(SPACE, CONFIGS, CURVES)
    # lr 2e-3 is nearest 1e-3 on the log scale; the categorical must match to be near.
    assert table.lookup({"lr": 2e-3, "act": "relu"})[1] == {"lr": 1e-3, "act": "relu"}
    assert table.lookup({"lr": 0.03, "act": "relu"})[1] == {"lr": 0.1, "act": "relu"}


def _long_table(path: Path) -> Path:
    rows = []
    for task, shift in (("a", 0.0), ("b", 0.1)):
        for trial, (config, curve) in enumerate(zip(CONFIGS[:3], CURVES[:3], strict=True)):
            for step, value in enumerate(curve, start=1):
                if not np.isnan(value):
                    rows.append({"task": task, "trial": trial, "step": step,
                                 "value": value + shift, **config,
                                 "status": "failed" if np.isnan(curve).any() else "complete"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_replay_of_an_ingested_long_table(tmp_path: Path) -> None:
    with Warehouse.open(tmp_path / "w.db") as store:
        ingest_table(store, _long_table(tmp_path / "t.csv"), "toy", direction="maximize")
        family = replay_family(store, "toy")
    assert family.task_ids() == ["a", "b"] and family.max_budget == 2
    task = family.task("b")
    result = task.evaluate({"lr": 0.05, "act": "relu"})
    assert result.config == {"lr": 0.1, "act": "relu"}
    assert result.curve == pytest.approx((0.8, 0.9)) and result.status == "complete"
    failed = task.evaluate({"lr": 1e-3, "act": "tanh"})
    assert failed.status == "failed" and failed.curve == pytest.approx((0.5,))
    assert "step 2" in (failed.failure_reason or "")


@pytest.mark.parametrize("first_step", [0, 1])
def test_a_table_replays_and_meta_trains_whatever_its_first_step(tmp_path: Path,
                                                                  first_step: int) -> None:
    # Steps from 0 (an epoch index, or a table of final values at step 0) were dropped once:
    # every replayed trial failed ("no tabulated value at step 1") and the curves lost a point.
    frame = pd.read_csv(_long_table(tmp_path / "t.csv"))
    frame["step"] += first_step - 1
    frame.to_csv(tmp_path / "t0.csv", index=False)
    with Warehouse.open(tmp_path / "w.db") as store:
        ingest_table(store, tmp_path / "t0.csv", "toy", direction="maximize")
        family = replay_family(store, "toy")
        data = load_dataset(store, "toy")
    assert family.max_budget == 2 and data.max_budget == 2
    result = family.task("b").evaluate({"lr": 0.05, "act": "relu"})
    assert result.status == "complete" and result.curve == pytest.approx((0.8, 0.9))
    np.testing.assert_allclose(data.tasks["a"].curves[1], [0.7, 0.8])
    finals = frame[frame["step"] == frame.groupby(["task", "trial"])["step"].transform("max")]
    with Warehouse.open(tmp_path / "w1.db") as store:  # a table of final values only
        ingest_table(store, _write_csv(finals.assign(step=first_step), tmp_path / "f.csv"),
                     "finals", direction="maximize")
        finals_family = replay_family(store, "finals")
    assert finals_family.max_budget == 1
    only = finals_family.task("a").evaluate({"lr": 0.1, "act": "relu"})
    assert only.status == "complete" and only.final_value == pytest.approx(0.8)


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_replay_refuses_tasks_that_do_not_share_configurations(tmp_path: Path) -> None:
    frame = pd.read_csv(_long_table(tmp_path / "t.csv"))
    frame = frame[~((frame["task"] == "b") & (frame["trial"] == 0))]
    frame.to_csv(tmp_path / "t2.csv", index=False)
    with Warehouse.open(tmp_path / "w.db") as store:
        ingest_table(store, tmp_path / "t2.csv", "toy")
        with pytest.raises(MetasearchError, match="share their configurations"):
            replay_family(store, "toy")
