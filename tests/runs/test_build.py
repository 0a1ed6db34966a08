"""``warehouse build`` on the synthetic family: resumable, repeats nothing, runs in processes."""

from __future__ import annotations

from typing import Any

import pytest
from warehouse_helpers import make_trials

from metasearch.families import get_family
from metasearch.runs import build_source_key, plan_build, run_build
from metasearch.warehouse import RunSpec, Warehouse

SYN = get_family("synthetic")


def build(warehouse: Warehouse, tasks: int, trials: int, **kwargs: Any) -> int:
    jobs = plan_build(warehouse, [SYN], n_tasks=tasks, n_trials=trials, seed=0)
    return run_build(warehouse, jobs, device="cpu", seed=0, **kwargs)


def test_a_rerun_with_more_trials_continues_and_repeats_nothing(warehouse: Warehouse) -> None:
    assert build(warehouse, 2, 6) == 12
    first = warehouse.trials("synthetic")
    assert build(warehouse, 2, 6) == 0
    assert build(warehouse, 2, 10) == 8
    trials = warehouse.trials("synthetic")
    assert trials.groupby("task").size().to_dict() == {"synthetic-00": 10, "synthetic-01": 10}
    assert not trials.duplicated(["run", "task", "number"]).any()
    assert sorted(trials["number"].unique()) == list(range(10))
    assert trials["run"].tolist() == [build_source_key("synthetic", t, 0) for t in trials["task"]]
    kept = trials.set_index("trial_id").loc[first["trial_id"], "config"].tolist()
    assert kept == first["config"].tolist()
    stats = warehouse.stats("synthetic")[0]
    assert stats.pruned == 0 and stats.curve_points == 20 * 10 - 19 * stats.failed
    assert {t.name for t in warehouse.tasks("synthetic")} == {"synthetic-00", "synthetic-01"}
    assert warehouse.tasks("synthetic")[0].meta_features == SYN.task("synthetic-00").meta_features


def test_an_interrupted_build_resumes_where_it_stopped(warehouse: Warehouse) -> None:
    seen: list[str] = []

    def interrupt(family: str, task: str, result: Any) -> None:
        seen.append(task)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(warehouse, 2, 5, on_trial=interrupt)
    assert len(warehouse.trials("synthetic")) == 4  # each trial written as it finished
    assert plan_build(warehouse, [SYN], n_tasks=2, n_trials=5, seed=0)[0].stored == 4
    assert build(warehouse, 2, 5) == 6
    assert warehouse.trials("synthetic").groupby("task").size().tolist() == [5, 5]


def test_numbers_go_on_after_a_gap(warehouse: Warehouse) -> None:
    key = build_source_key("synthetic", "synthetic-00", 0)
    stored = [t for t in make_trials("synthetic-00", 5, 3) if t.number != 3]
    warehouse.ingest(SYN, RunSpec(key, "build"), stored)
    assert build(warehouse, 1, 6) == 2
    assert sorted(warehouse.trials("synthetic")["number"]) == [0, 1, 2, 4, 5, 6]


def test_workers_build_tasks_in_parallel_processes(warehouse: Warehouse) -> None:
    progress: list[str] = []
    written = build(warehouse, 3, 4, workers=2,
                    on_trial=lambda family, task, result: progress.append(task))
    assert written == len(progress) == 12
    assert warehouse.trials("synthetic").groupby("task").size().tolist() == [4, 4, 4]


def test_a_build_needs_tasks_and_trials(warehouse: Warehouse) -> None:
    with pytest.raises(Exception, match="needs >= 1 task and trial"):
        plan_build(warehouse, [SYN], n_tasks=0, n_trials=3, seed=0)
