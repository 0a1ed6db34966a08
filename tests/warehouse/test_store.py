"""The store on both backends: round trips, idempotence, transactions, reads and locations."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from warehouse_helpers import make_trials

from metasearch.errors import SchemaVersionError, UnknownFamilyError, WarehouseError
from metasearch.families import get_family
from metasearch.spaces import Float, SearchSpace
from metasearch.warehouse import FamilySpec, RunSpec, TrialData, Warehouse, default_path

SYN = get_family("synthetic")


def test_round_trip_keeps_every_field_and_curve(warehouse: Warehouse) -> None:
    trials = make_trials("synthetic-00", 6, 5)
    summary = warehouse.ingest(SYN, RunSpec("src", "test", study="s", seed=3), trials,
                               meta_features={"synthetic-00": {"rows": 10.0, "nan": math.nan}})
    assert (summary.added, summary.skipped, summary.points) == (6, 0, 30)
    records = warehouse.trial_records("synthetic")
    assert len(records) == 6
    for stored, given in zip(records, trials, strict=True):
        assert stored.config == given.config and stored.status == given.status
        assert stored.curve == given.curve and stored.steps == (1, 2, 3, 4, 5)
        assert stored.elapsed == pytest.approx(given.elapsed)
        assert stored.final_value == given.final_value and stored.test_value == given.test_value
        assert (stored.failure_reason, stored.seed, stored.budget, stored.device) == (
            given.failure_reason, given.seed, given.budget, given.device)
        assert stored.attrs == {"n": given.number} and stored.run == "src"
    (family,) = warehouse.families()
    assert family.space == SYN.space and family.fingerprint == SYN.space.fingerprint()
    assert (family.metric, family.direction, family.source) == (SYN.metric, SYN.direction,
                                                                "registry")
    (task,) = warehouse.tasks("synthetic")
    assert task.meta_features["rows"] == 10.0 and math.isnan(task.meta_features["nan"])
    (run,) = warehouse.runs()
    assert (run.source_key, run.kind, run.study, run.seed) == ("src", "test", "s", 3)


def test_frames_filter_by_task_list_and_split(warehouse: Warehouse) -> None:
    for i in range(3):
        warehouse.ingest(SYN, RunSpec("src", "test"), make_trials(f"synthetic-0{i}", 4, 3))
    trials = warehouse.trials("synthetic")
    assert len(trials) == 12 and trials["trial_id"].is_unique
    assert isinstance(trials.loc[0, "config"], dict)
    curves = warehouse.curves("synthetic")
    assert len(curves) == 36 and set(curves["trial_id"]) == set(trials["trial_id"])
    assert list(curves.columns) == ["trial_id", "task", "step", "value", "elapsed_s"]
    train = ["synthetic-00", "synthetic-02"]
    assert set(warehouse.trials("synthetic", tasks=train)["task"]) == set(train)
    held_out = warehouse.curves("synthetic", exclude_tasks=train)
    assert set(held_out["task"]) == {"synthetic-01"} and len(held_out) == 12


def test_reingesting_a_source_adds_nothing(warehouse: Warehouse) -> None:
    trials = make_trials("synthetic-00", 5, 4)
    warehouse.ingest(SYN, RunSpec("src", "test"), trials)
    again = warehouse.ingest(SYN, RunSpec("src", "test"), trials)
    assert (again.added, again.skipped, again.points) == (0, 5, 0)
    more = warehouse.ingest(SYN, RunSpec("src", "test"), make_trials("synthetic-00", 8, 4))
    assert (more.added, more.skipped) == (3, 5)
    other = warehouse.ingest(SYN, RunSpec("other", "test"), trials)
    assert other.added == 5
    assert warehouse.counts() == {"families": 1, "tasks": 1, "runs": 2, "trials": 13,
                                  "curve_points": 52}


def test_a_failing_batch_stores_nothing(warehouse: Warehouse) -> None:
    warehouse.ingest(SYN, RunSpec("first", "test"), make_trials("synthetic-00", 2, 3))
    good = make_trials("synthetic-01", 3, 3)
    # The duplicate is found only after the family, task and run rows were written.
    with pytest.raises(WarehouseError, match="twice in one batch"):
        warehouse.ingest(SYN, RunSpec("second", "test"), [*good, good[1]],
                         meta_features={"synthetic-01": {"x": 1.0}})
    assert warehouse.counts() == {"families": 1, "tasks": 1, "runs": 1, "trials": 2,
                                  "curve_points": 6}


def test_non_finite_curve_values_are_refused() -> None:
    with pytest.raises(WarehouseError, match="curve value nan is not finite"):
        TrialData("t", 0, {}, "complete", curve=(0.5, math.nan))


def test_a_changed_space_is_refused(warehouse: Warehouse) -> None:
    warehouse.ingest(SYN, RunSpec("src", "test"), make_trials("synthetic-00", 1, 1))
    changed = FamilySpec("synthetic", SYN.metric, SYN.direction, SYN.max_budget,
                         SearchSpace((Float("lr", 0.1, 1.0),)))
    with pytest.raises(WarehouseError, match=r"family 'synthetic' is stored with space"):
        warehouse.ingest(changed, RunSpec("src2", "test"), [])


def test_conflicting_meta_features_are_refused_and_new_ones_added(warehouse: Warehouse) -> None:
    run = RunSpec("src", "test")
    warehouse.ingest(SYN, run, [], meta_features={"t": {"a": 1.0}})
    warehouse.ingest(SYN, run, [], meta_features={"t": {"a": 1.0, "b": 2.0}})
    assert warehouse.tasks("synthetic")[0].meta_features == {"a": 1.0, "b": 2.0}
    with pytest.raises(WarehouseError, match=r"meta-feature 'a' is stored as 1.0.* 5.0"):
        warehouse.ingest(SYN, run, [], meta_features={"t": {"a": 5.0}})


def test_a_source_key_belongs_to_one_family(warehouse: Warehouse) -> None:
    warehouse.ingest(SYN, RunSpec("src", "test"), [])
    other = FamilySpec("other", "m", "minimize", 3, SearchSpace((Float("x", 0.0, 1.0),)))
    with pytest.raises(WarehouseError, match="already stored for family 'synthetic'"):
        warehouse.ingest(other, RunSpec("src", "test"), [])


def test_stats_count_statuses_points_and_best_by_direction(warehouse: Warehouse) -> None:
    trials = make_trials("synthetic-00", 6, 4)
    warehouse.ingest(SYN, RunSpec("src", "test"), trials)
    (stats,) = warehouse.stats("synthetic")
    assert (stats.trials, stats.complete, stats.failed, stats.pruned) == (6, 2, 2, 2)
    assert stats.curve_points == 24
    assert stats.best_value == max(t.final_value for t in trials if t.status == "complete")
    low = FamilySpec("low", "loss", "minimize", 3, SearchSpace((Float("x", 0.0, 1.0),)))
    values = [0.5, 0.2, 0.9]
    warehouse.ingest(low, RunSpec("low", "test"), [
        TrialData("a", i, {"x": 0.1}, "complete", curve=(v,), final_value=v)
        for i, v in enumerate(values)])
    assert warehouse.stats("low")[0].best_value == 0.2


def test_task_bounds_are_the_complete_trials_ends_by_direction(warehouse: Warehouse) -> None:
    trials = make_trials("synthetic-00", 6, 4) + make_trials("synthetic-01", 6, 4, seed=1)
    warehouse.ingest(SYN, RunSpec("src", "test"), trials)
    bounds = warehouse.task_bounds("synthetic", "maximize")
    for task in ("synthetic-00", "synthetic-01"):
        done = [t.final_value for t in trials if t.task == task and t.status == "complete"]
        assert (bounds.loc[task, "best"], bounds.loc[task, "worst"]) == (max(done), min(done))
    flipped = warehouse.task_bounds("synthetic", "minimize", tasks=["synthetic-01"])
    assert list(flipped.index) == ["synthetic-01"]
    assert flipped.loc["synthetic-01", "best"] == bounds.loc["synthetic-01", "worst"]


def test_unknown_family_read_names_the_stored_ones(warehouse: Warehouse) -> None:
    with pytest.raises(UnknownFamilyError, match=r"no family 'nope'.*no family yet"):
        warehouse.trials("nope")
    warehouse.ingest(SYN, RunSpec("src", "test"), [])
    with pytest.raises(UnknownFamilyError, match="it has synthetic"):
        warehouse.curves("nope")


def test_empty_family_frames_have_their_columns(warehouse: Warehouse) -> None:
    warehouse.ingest(SYN, RunSpec("src", "test"), [])
    assert warehouse.trials("synthetic").empty
    assert list(warehouse.curves("synthetic").columns) == ["trial_id", "task", "step", "value",
                                                           "elapsed_s"]


def test_a_missing_path_becomes_a_new_sqlite_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "w.db"
    with Warehouse.open(path) as store:
        assert store.backend == "sqlite" and store.counts()["trials"] == 0
    assert path.is_file()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_the_environment_variable_and_the_default(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_path().parts[-2:] == ("warehouse", "warehouse.db")
    monkeypatch.setenv("METASEARCH_WAREHOUSE", str(tmp_path / "env.db"))
    with Warehouse.open() as store:
        assert store.url.endswith("env.db")


def test_bad_locations_get_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="is a folder"):
        Warehouse.open(tmp_path)
    (tmp_path / "notes.txt").write_text("not a database at all, just some text\n" * 100)
    with pytest.raises(WarehouseError, match=r"notes\.txt"):
        Warehouse.open(tmp_path / "notes.txt")
    with pytest.raises(SchemaVersionError, match="unsupported warehouse backend 'mysql'"):
        Warehouse.open("mysql://u@localhost/db")


def test_an_optuna_database_is_not_taken_for_a_warehouse(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(storage=url, study_name="s")
    with pytest.raises(SchemaVersionError, match=r"not a metasearch warehouse.*studies"):
        Warehouse.open(url)


def test_opening_imports_neither_torch_nor_optuna(tmp_path: Path) -> None:
    code = (f"import sys; from metasearch.warehouse import Warehouse; "
            f"w = Warehouse.open({str(tmp_path / 'x.db')!r}); w.counts(); "
            "print('torch' in sys.modules, 'optuna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_trial_frame_dtypes(warehouse: Warehouse) -> None:
    warehouse.ingest(SYN, RunSpec("src", "test"), make_trials("synthetic-00", 3, 2))
    frame = warehouse.trials("synthetic")
    assert frame["final_value"].dtype == "float64"
    assert str(frame["number"].dtype) == "Int64"
    assert pd.isna(frame.loc[0, "failure_reason"])


def test_the_shipped_archive_is_unpacked_once_and_never_over_a_file(tmp_path: Path) -> None:
    import lzma

    from metasearch.errors import WarehouseError
    from metasearch.warehouse._engine import unpack_shipped

    source = tmp_path / "source.db"
    with Warehouse.open(str(source)) as store:
        store.close()
    target = tmp_path / "shipped" / "warehouse.db"
    target.parent.mkdir()
    (target.parent / "warehouse.db.xz").write_bytes(lzma.compress(source.read_bytes()))
    unpack_shipped(target)
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".unpack-")] == []
    target.write_bytes(b"recorded since")
    unpack_shipped(target)  # an existing warehouse is left alone
    assert target.read_bytes() == b"recorded since"
    broken = tmp_path / "broken" / "warehouse.db"
    broken.parent.mkdir()
    (broken.parent / "warehouse.db.xz").write_bytes(b"not xz at all")
    with pytest.raises(WarehouseError, match="cannot unpack"):
        unpack_shipped(broken)
    assert not broken.exists() and len(list(broken.parent.iterdir())) == 1


def test_the_checkout_ships_the_default_warehouse_compressed() -> None:
    archive = default_path().with_name("warehouse.db.xz")
    assert archive.is_file() and archive.stat().st_size < 5 * 2**20


def test_model_files_are_stored_replaced_whole_and_kept_per_family(warehouse: Warehouse) -> None:
    warehouse.ingest(SYN, RunSpec("src", "test"), make_trials("synthetic-00", 2, 2))
    assert warehouse.model_files("synthetic") == {}
    blob = bytes(range(256)) * 50  # binary, NUL bytes included
    warehouse.put_model_files("synthetic", {"metadata.json": b"{}", "weights.pt": blob})
    assert warehouse.model_files("synthetic") == {"metadata.json": b"{}", "weights.pt": blob}
    warehouse.put_model_files("synthetic", {"metadata.json": b'{"v": 2}'})
    assert warehouse.model_files("synthetic") == {"metadata.json": b'{"v": 2}'}
    assert warehouse.model_files("other") == {}
    with pytest.raises(UnknownFamilyError, match="no family 'other'"):
        warehouse.put_model_files("other", {"metadata.json": b"{}"})
