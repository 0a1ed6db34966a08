"""Long-format tables: ingest (registered and inferred families), every malformed-table error,
and export read back by ingest."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from warehouse_helpers import make_trials

from metasearch.errors import TableFormatError, WarehouseError
from metasearch.families import family_names, get_family
from metasearch.spaces import Categorical, Float, Int
from metasearch.warehouse import RunSpec, TrialData, Warehouse, export_family, ingest_table

SYN = get_family("synthetic")


def registered(name: str) -> Any:
    return get_family(name) if name in family_names() else None


def synthetic_table(tasks: int = 2, trials: int = 3, steps: int = 4,
                    json_config: bool = False) -> pd.DataFrame:
    """A valid table of the synthetic family, one column per parameter (or a JSON config)."""
    rng = np.random.default_rng(1)
    rows = []
    for task in range(tasks):
        for trial in range(trials):
            config = SYN.space.sample(rng)
            for step in range(1, steps + 1):
                row = {"task": f"synthetic-{task:02d}", "trial": trial, "step": step,
                       "value": 0.1 * step + 0.01 * trial, "test_value": 0.5 + trial,
                       "cost": 2.0}
                if json_config:
                    row["config"] = json.dumps(config)
                else:
                    row.update({"momentum": math.nan, **config})
                rows.append(row)
    return pd.DataFrame(rows)


def plain_table() -> pd.DataFrame:
    """A table of a family nobody registered: its space is inferred."""
    rows = []
    for trial, (lr, layers, act) in enumerate([(1e-4, 2, "relu"), (1e-2, 4, "tanh"),
                                               (1e-1, 3, "relu")]):
        for step in (0, 1, 2):
            rows.append({"task": "data-a", "trial": trial, "step": step, "value": lr * step,
                         "lr": lr, "layers": layers, "act": act, "status": "complete"})
    return pd.DataFrame(rows)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("json_config", [False, True])
def test_a_table_of_a_registered_family_round_trips(
    warehouse: Warehouse, tmp_path: Path, suffix: str, json_config: bool
) -> None:
    frame = synthetic_table(json_config=json_config)
    path = _write(frame, tmp_path / f"runs{suffix}")
    features = _write(pd.DataFrame({"task": ["synthetic-00", "new-task"], "rows": [10, 20],
                                    "ratio": [0.5, None]}), tmp_path / f"mf{suffix}")
    summary = ingest_table(warehouse, path, "synthetic", registered=registered,
                           meta_features=features)
    assert (summary.added, summary.points) == (6, 24)
    trials = warehouse.trials("synthetic")
    assert trials["config"].map(SYN.space.validate).tolist() == trials["config"].tolist()
    assert (trials["test_value"].tolist(), trials["cost_s"].unique().tolist()) == (
        [0.5, 1.5, 2.5] * 2, [2.0])
    assert trials["final_value"].tolist() == pytest.approx([0.4, 0.41, 0.42] * 2)
    assert {t.name: t.meta_features for t in warehouse.tasks("synthetic")}["new-task"] == {
        "rows": 20.0}
    again = ingest_table(warehouse, path, "synthetic", registered=registered)
    assert (again.added, again.skipped) == (0, 6)


def test_an_unknown_family_gets_a_space_inferred_from_its_columns(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    path = _write(plain_table(), tmp_path / "mine.csv")
    summary = ingest_table(warehouse, path, "mine", direction="minimize", metric="loss")
    assert summary.added == 3
    family = warehouse.family("mine")
    assert (family.source, family.direction, family.metric, family.max_budget) == (
        "table", "minimize", "loss", 3)  # three points a trial (steps 0, 1, 2)
    assert family.space.params == (Categorical("act", ("relu", "tanh")), Int("layers", 2, 4),
                                   Float("lr", 1e-4, 1e-1, log=True))
    assert warehouse.curves("mine")["step"].tolist() == [0, 1, 2] * 3
    # A second table of the family must fit the stored space.
    outside = plain_table().assign(lr=5.0, task="data-b")
    with pytest.raises(TableFormatError, match=r"row 1, column 'lr': lr=5.0 is outside"):
        ingest_table(warehouse, _write(outside, tmp_path / "b.csv"), "mine")


def _break(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame = frame.copy()
    if kind == "missing column":
        return frame.drop(columns="step")
    if kind in ("wrong type", "not finite"):
        frame["value"] = frame["value"].astype(object)
        frame.loc[2, "value"] = "abc" if kind == "wrong type" else math.inf
    elif kind == "NaN step":
        frame["step"] = frame["step"].astype(float)
        frame.loc[4, "step"] = math.nan
    elif kind == "fractional trial":
        frame["trial"] = frame["trial"].astype(float)
        frame.loc[1, "trial"] = 0.5
    elif kind == "duplicate point":
        frame.loc[2, "step"] = 2
    elif kind == "outside the space":
        frame.loc[[4, 5, 6, 7], "lr"] = 9.0
    elif kind == "trial disagrees":
        frame.loc[6, "test_value"] = 99.0
    elif kind == "bad status":
        frame["status"] = "complete"
        frame.loc[3, "status"] = "exploded"
    elif kind == "text in a number column":
        frame["width"] = frame["width"].astype(object)
        frame.loc[9, "width"] = "wide"
    elif kind == "empty task":
        frame["task"] = frame["task"].astype(object)
        frame.loc[7, "task"] = None
    elif kind == "task ending in NUL":  # NumPy's comparisons drop trailing NULs
        frame["task"] = frame["task"].astype(object)
        frame.loc[7, "task"] = "synthetic-00\x00"
    return frame


MALFORMED = [
    ("missing column", r"missing column 'step'"),
    ("wrong type", r"row 3, column 'value': 'abc' is not a number"),
    ("not finite", r"row 3, column 'value': inf is not finite"),
    ("NaN step", r"row 5, column 'step': empty \(NaN\)"),
    ("fractional trial", r"row 2, column 'trial': 0.5 is not an integer"),
    ("duplicate point", r"rows 2 and 3, columns task, trial, step: duplicate point "
                        r"\(task 'synthetic-00', trial 0, step 2\)"),
    ("outside the space", r"row 5, column 'lr': lr=9.0 is outside the space"),
    ("trial disagrees", r"row 7, column 'test_value': 99.0 differs"),
    ("bad status", r"row 4, column 'status': 'exploded' is not one of"),
    ("text in a number column", r"row 10, column 'width': 'wide' is not a number"),
    ("empty task", r"row 8, column 'task': empty"),
    ("task ending in NUL", r"row 8, column 'task': "),
]


@pytest.mark.parametrize(("kind", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_table_is_refused_and_stores_nothing(
    warehouse: Warehouse, tmp_path: Path, kind: str, message: str
) -> None:
    warehouse.ingest(SYN, RunSpec("earlier", "test"), make_trials("synthetic-05", 2, 3))
    before = warehouse.counts()
    path = _write(_break(synthetic_table(), kind), tmp_path / "bad.csv")
    with pytest.raises(TableFormatError, match=message):
        ingest_table(warehouse, path, "synthetic", registered=registered,
                     meta_features=_write(pd.DataFrame({"task": ["synthetic-00"], "x": [1]}),
                                          tmp_path / "mf.csv"))
    assert warehouse.counts() == before


@pytest.mark.parametrize(("frame", "message"), [
    (plain_table().assign(lr=[1e-4, 1e-4, 1e-4, None, None, None, 0.1, 0.1, 0.1]),
     r"row 4, column 'lr': parameter 'lr' is empty"),
    (plain_table().drop(columns=["lr", "layers", "act"]), r"no configuration"),
    (plain_table().assign(config="{not json"), r"row 1, column 'config': not valid JSON"),
    (plain_table().assign(config="[1, 2]"), r"row 1, column 'config': not a JSON object"),
    (plain_table().iloc[:0], r"the table has no rows"),
])
def test_malformed_tables_of_inferred_families(
    warehouse: Warehouse, tmp_path: Path, frame: pd.DataFrame, message: str
) -> None:
    with pytest.raises(TableFormatError, match=message):
        ingest_table(warehouse, _write(frame, tmp_path / "bad.csv"), "mine")
    assert warehouse.counts()["families"] == 0


def test_malformed_meta_features_and_files(warehouse: Warehouse, tmp_path: Path) -> None:
    table = _write(synthetic_table(), tmp_path / "ok.csv")
    features = _write(pd.DataFrame({"task": ["a", "a"], "x": [1, 2]}), tmp_path / "mf.csv")
    with pytest.raises(TableFormatError, match=r"row 2, column 'task': task 'a' is also on"):
        ingest_table(warehouse, table, "synthetic", registered=registered,
                     meta_features=features)
    features = _write(pd.DataFrame({"task": ["a"], "x": ["big"]}), tmp_path / "mf2.csv")
    with pytest.raises(TableFormatError, match=r"row 1, column 'x': 'big' is not a number"):
        ingest_table(warehouse, table, "synthetic", registered=registered,
                     meta_features=features)
    with pytest.raises(TableFormatError, match="unknown table format"):
        ingest_table(warehouse, _write(synthetic_table(), tmp_path / "t.txt"), "synthetic")
    with pytest.raises(TableFormatError, match="no such table file"):
        ingest_table(warehouse, tmp_path / "absent.csv", "synthetic")
    assert warehouse.counts()["trials"] == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_is_read_back_by_ingest(warehouse: Warehouse, tmp_path: Path, fmt: str) -> None:
    trials = make_trials("synthetic-00", 6, 4)
    no_curve = TrialData("synthetic-01", 0, trials[0].config, "failed",
                         failure_reason="out of memory")
    warehouse.ingest(SYN, RunSpec("src", "test"), [*trials, no_curve])
    path = tmp_path / f"out.{fmt}"
    assert export_family(warehouse, "synthetic", path, fmt) == 6 * 4 + 1
    with Warehouse.open(tmp_path / "copy.db") as copy:
        summary = ingest_table(copy, path, "synthetic", registered=registered)
        assert (summary.added, summary.points) == (7, 24)
        columns = ["task", "status", "final_value", "test_value", "cost_s", "failure_reason",
                   "budget", "seed", "device"]
        original, back = warehouse.trials("synthetic"), copy.trials("synthetic")
        pd.testing.assert_frame_equal(original[columns], back[columns])
        assert original["config"].tolist() == back["config"].tolist()
        left, right = warehouse.curves("synthetic"), copy.curves("synthetic")
        assert left[["step", "value", "elapsed_s"]].equals(right[["step", "value", "elapsed_s"]])


def test_export_refuses_an_unknown_format(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.ingest(SYN, RunSpec("src", "test"), [])
    with pytest.raises(WarehouseError, match="unknown export format 'xls'"):
        export_family(warehouse, "synthetic", tmp_path / "x.xls", "xls")
