"""Exporting a family as the long-format table that ``ingest-table`` reads back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from metasearch.errors import WarehouseError
from metasearch.records import dumps

if TYPE_CHECKING:
    import pandas as pd

    from metasearch.warehouse._store import Warehouse

__all__ = ["FORMATS", "export_family", "export_frame"]

FORMATS = ("parquet", "csv")
COLUMNS = ("task", "trial", "step", "value", "elapsed_s", "config", "status", "final_value",
           "test_value", "cost", "failure_reason", "budget", "seed", "device", "run", "number")


def export_frame(
    warehouse: Warehouse, family: str, *, tasks: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per curve point with its trial's columns (one empty-step row for a trial
    without points). ``trial`` is the warehouse-wide trial id, unique within the table."""
    trials = warehouse.trials(family, tasks=tasks)
    points = warehouse.curves(family, tasks=tasks).drop(columns="task")
    trials = trials.assign(config=[dumps(c) for c in trials["config"]])
    trials = trials.drop(columns="attrs").rename(columns={"cost_s": "cost"})
    frame = trials.merge(points, on="trial_id", how="left").rename(columns={"trial_id": "trial"})
    frame["step"] = frame["step"].astype("Int64")
    frame["task"] = frame["task"].astype(str)
    return frame.loc[:, list(COLUMNS)].reset_index(drop=True)


def export_family(
    warehouse: Warehouse,
    family: str,
    out: str | Path,
    fmt: str,
    *,
    tasks: Sequence[str] | None = None,
) -> int:
    """Write ``family`` to ``out`` as ``parquet`` or ``csv``; the number of rows written."""
    if fmt not in FORMATS:
        raise WarehouseError(f"unknown export format {fmt!r}: expected one of {list(FORMATS)}")
    frame = export_frame(warehouse, family, tasks=tasks)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    except ImportError as exc:
        raise WarehouseError("writing Parquet needs pyarrow: pip install pyarrow") from exc
    return len(frame)
