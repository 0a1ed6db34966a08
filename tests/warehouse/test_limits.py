"""Issue 12, item 3: numbers and texts the storage cannot hold are refused before any write.

Every case runs on SQLite and on PostgreSQL (the ``warehouse`` fixture); each checks that the
error names the culprit and that nothing was stored.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from warehouse_helpers import make_trials

from metasearch.errors import InvalidNameError, TableFormatError, WarehouseError
from metasearch.families import get_family
from metasearch.warehouse import RunSpec, Warehouse, ingest_table
from metasearch.warehouse._limits import integer_range

SYN = get_family("synthetic")
HUGE = "99999999999999999999999"


def _nothing_stored(store: Warehouse) -> None:
    assert store.counts()["trials"] == 0 and not store.families()


def _csv(tmp_path: Path, rows: list[str], header: str = "task,trial,step,value,lr") -> Path:
    path = tmp_path / "t.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize(("row", "column"), [
    (f"a,{HUGE},1,0.5,0.1", "trial"), (f"a,0,{HUGE},0.5,0.1", "step"),
    (f"a,0,{2**63 - 1},0.5,0.1", "step"), (f"a,{-(2**60)},1,0.5,0.1", "trial"),
    (f"a,0,{2**53 + 1},0.5,0.1", "step"),  # parses as 2**53: found by the fuzzing
])
def test_a_table_integer_beyond_exact_is_refused_with_its_row(
        warehouse: Warehouse, tmp_path: Path, row: str, column: str) -> None:
    path = _csv(tmp_path, ["a,1,1,0.4,0.2", row])
    with pytest.raises(TableFormatError, match=rf"row 2, column '{column}': .*beyond \+-\(2\*\*53 - 1\)"):
        ingest_table(warehouse, path, "mine")
    _nothing_stored(warehouse)


def test_a_trial_number_the_backend_cannot_hold_is_refused(warehouse: Warehouse) -> None:
    dialect = "sqlite" if warehouse.url.startswith("sqlite") else "postgresql"
    too_big = integer_range(dialect)[1] + 1
    good = make_trials("synthetic-00", 2, 3)
    batch = [*good, replace(good[0], number=too_big)]
    with pytest.raises(WarehouseError, match=rf"task 'synthetic-00', trial {too_big}: number"):
        warehouse.ingest(SYN, RunSpec("limits", "test"), batch)
    _nothing_stored(warehouse)


def test_a_step_the_backend_cannot_hold_is_refused(warehouse: Warehouse) -> None:
    dialect = "sqlite" if warehouse.url.startswith("sqlite") else "postgresql"
    too_big = integer_range(dialect)[1] + 1
    trial = make_trials("synthetic-00", 1, 2)[0]
    trial = replace(trial, steps=(1, too_big))
    with pytest.raises(WarehouseError, match=rf"step {too_big} does not fit"):
        warehouse.ingest(SYN, RunSpec("limits", "test"), [trial])
    _nothing_stored(warehouse)


def test_on_postgresql_a_32_bit_overflow_from_a_table_names_the_trial(
        warehouse: Warehouse, tmp_path: Path) -> None:
    path = _csv(tmp_path, ["a,1,1,0.4,0.2", f"a,{2**31},1,0.5,0.1"])
    if warehouse.url.startswith("sqlite"):
        assert ingest_table(warehouse, path, "mine").added == 2  # int64 holds it
        return
    with pytest.raises(WarehouseError, match=rf"task 'a', trial {2**31}: number .* integer"):
        ingest_table(warehouse, path, "mine")
    _nothing_stored(warehouse)


def test_an_over_long_task_name_is_refused_with_its_row(
        warehouse: Warehouse, tmp_path: Path) -> None:
    path = _csv(tmp_path, ["a,1,1,0.4,0.2", f"{'t' * 10_000},0,1,0.5,0.1"])
    with pytest.raises(TableFormatError, match=r"row 2, column 'task': .*10000 characters"):
        ingest_table(warehouse, path, "mine")
    _nothing_stored(warehouse)


def test_an_over_long_text_is_refused_before_the_driver(warehouse: Warehouse) -> None:
    trial = replace(make_trials("synthetic-00", 1, 2)[0], device="d" * 51)
    with pytest.raises(WarehouseError, match=r"trial 0: device is 51 characters"):
        warehouse.ingest(SYN, RunSpec("limits", "test"), [trial])
    with pytest.raises(InvalidNameError):
        warehouse.ingest(SYN, RunSpec("limits", "test"), [replace(trial, task="x" * 300)])
    _nothing_stored(warehouse)


def _parquet(tmp_path: Path, **columns: object) -> Path:
    frame = pd.DataFrame({"task": ["a", "a"], "trial": [0, 1], "step": [1, 1],
                          "value": [0.5, 0.6], "lr": [0.1, 0.2]})
    for name, values in columns.items():
        frame[name] = values
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(("column", "values", "message"), [
    ("step", pd.to_datetime(["2024-01-01", "2024-01-02"]), r"column 'step' holds datetime"),
    ("task", [b"a", b"b"], r"row 1, column 'task': b'a' is a bytes, not text"),
    ("trial", [True, False], r"column 'trial' holds bool"),
    ("value", [b"1", b"2"], r"row 1, column 'value': b'1' is a bytes, not a number"),
])
def test_a_column_of_the_wrong_type_is_refused(
        warehouse: Warehouse, tmp_path: Path, column: str, values: object,
        message: str) -> None:
    with pytest.raises(TableFormatError, match=message):
        ingest_table(warehouse, _parquet(tmp_path, **{column: values}), "mine")
    _nothing_stored(warehouse)
