"""Reading a long-format table (CSV or Parquet) of trials and learning curves.

One row per curve point: ``task, trial, step, value``, the configuration either as a JSON
``config`` column or as one column per parameter, and optional trial-level columns. Everything
is checked before anything is written; the first problem found is reported with its row (rows
count from 1, the header not counted) and column. ``warehouse/README.md`` documents the format.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metasearch.errors import InvalidNameError, SpaceError, TableFormatError
from metasearch.names import check_name
from metasearch.warehouse._infer import infer_space, plain
from metasearch.records import STATUSES, TrialData

if TYPE_CHECKING:
    import pandas as pd

    from metasearch.spaces import SearchSpace

__all__ = ["parse_trials", "read_meta_features", "read_table"]

REQUIRED = ("task", "trial", "step", "value")
# Trial-level columns: one value per trial, repeated on each of its rows (or empty).
NUMERIC_TRIAL = {"test_value": False, "cost": False, "final_value": False, "seed": True,
                 "budget": True}
TEXT_TRIAL = ("status", "failure_reason", "device")
IGNORED = ("run", "number")  # written by `export` for people; not read back
RESERVED = {*REQUIRED, *NUMERIC_TRIAL, *TEXT_TRIAL, *IGNORED, "elapsed_s", "config"}
_NA = ["", "nan", "NaN", "NA", "null"]
MAX_EXACT_INTEGER = 2**53


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file as a DataFrame."""
    name = path.name.lower()
    if not path.is_file():
        raise TableFormatError(f"no such table file: {str(path)!r}")
    try:
        if name.endswith((".parquet", ".pq")):
            frame = _read_parquet(path)
        elif name.endswith((".csv", ".csv.gz")):
            frame = _read_csv(path)
        else:
            raise TableFormatError(
                f"{str(path)!r}: unknown table format; name it .csv, .csv.gz, .parquet or .pq")
    except ImportError as exc:
        raise TableFormatError(f"reading {path.name} needs pyarrow: pip install pyarrow") from exc
    except (ValueError, OSError, EOFError, zlib.error, csv.Error) as exc:
        # EOFError: a truncated .gz; zlib.error: a corrupt one; csv.Error: a broken quote
        if isinstance(exc, TableFormatError):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise TableFormatError(f"{str(path)!r} cannot be read as a table: {reason}") from exc
    return frame.reset_index(drop=True)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path)


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV, after checking that every record has as many fields as the header.

    pandas pads a short record with empty cells and may shift a long one, so a ragged record
    would surface as a wrong value in some other column; it is reported as what it is.
    """
    import pandas as pd

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # pandas has no such limit
    with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        for row, record in enumerate(reader, start=1):
            if header is not None and record and len(record) != len(header):
                raise TableFormatError(
                    f"{path.name}: row {row} (line {reader.line_num}) has {len(record)} "
                    f"fields, the header has {len(header)}: a ragged row (a missing or extra "
                    "separator?)")
    text = {c: str for c in ("task", "config", *TEXT_TRIAL)}
    return pd.read_csv(path, dtype=text, keep_default_na=False, na_values=_NA)


def _fail(where: str, row: int | np.integer[Any], column: str, problem: str) -> TableFormatError:
    """The error for 0-based position ``row``, shown 1-based (the header not counted)."""
    return TableFormatError(f"{where}: row {int(row) + 1}, column {column!r}: {problem}")


def _numbers(frame: pd.DataFrame, column: str, where: str, *, integer: bool) -> np.ndarray:
    """The column as floats (NaN where empty); a cell that is not a (whole) number fails.

    Integers are held exactly below 2**53 (the float64 mantissa); larger ones are refused
    rather than rounded, as are cells of another type (dates, bytes, booleans).
    """
    import pandas as pd

    raw = frame[column]
    _check_number_cells(raw, column, where)
    numbers = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
    for position in np.flatnonzero(raw.notna().to_numpy() & np.isnan(numbers)):
        raise _fail(where, position, column, f"{plain(raw.iloc[position])!r} is not a number")
    for position in np.flatnonzero(np.isinf(numbers)):
        raise _fail(where, position, column, f"{numbers[position]} is not finite")
    if integer:
        for position in np.flatnonzero(~np.isnan(numbers) & (numbers != np.round(numbers))):
            raise _fail(where, position, column, f"{numbers[position]} is not an integer")
        # 2**53 + 1 parses as 2**53: the first value that may not be what the file says
        for position in np.flatnonzero(np.abs(numbers) >= MAX_EXACT_INTEGER):
            raise _fail(where, position, column, f"{plain(raw.iloc[position])} is beyond "
                        "+-(2**53 - 1), the largest integer a table holds exactly")
    return numbers


def _check_number_cells(raw: pd.Series, column: str, where: str) -> None:
    """Refuse a column (or a cell) whose type is not a number or text holding one."""
    kind = raw.dtype.kind
    if kind in "iuf":
        return
    if kind != "O" and str(raw.dtype) not in ("str", "string"):
        raise TableFormatError(f"{where}: column {column!r} holds {raw.dtype} values, "
                               "not numbers")
    for position, value in enumerate(raw.to_numpy(dtype=object)):
        if not isinstance(value, (str, int, float, np.integer, np.floating)) or isinstance(
                value, (bool, np.bool_)):
            if value is not None:
                raise _fail(where, position, column,
                            f"{value!r} is a {type(value).__name__}, not a number")


def _texts(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """The column as text (None where empty); bytes, dates and other objects fail."""
    values = frame[column].to_numpy(dtype=object)
    for position, value in enumerate(values):
        if not _empty(value) and not isinstance(value, (str, int, np.integer)) or isinstance(
                value, (bool, np.bool_)):
            raise _fail(where, position, column,
                        f"{value!r} is a {type(value).__name__}, not text")
    return np.array([None if _empty(v) else str(v) for v in values], dtype=object)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is np.nan


def _check_columns(frame: pd.DataFrame, where: str) -> list[str]:
    """The parameter columns; fails on a missing required column or no configuration."""
    for column in REQUIRED:
        if column not in frame.columns:
            raise TableFormatError(f"{where}: missing column {column!r} (it has "
                                   f"{', '.join(map(str, frame.columns))})")
    if len(frame) == 0:
        raise TableFormatError(f"{where}: the table has no rows")
    params = [str(c) for c in frame.columns if c not in RESERVED]
    if "config" not in frame.columns and not params:
        raise TableFormatError(f"{where}: no configuration: give a 'config' column (JSON) or "
                               "one column per parameter")
    return [] if "config" in frame.columns else params


def _points(frame: pd.DataFrame, where: str, status: np.ndarray) -> dict[str, np.ndarray]:
    """Task, trial, step and value of every row, checked; rows without a point get step -1."""
    tasks = _texts(frame, "task", where)
    _check_task_names(tasks, where)
    trial = _numbers(frame, "trial", where, integer=True)
    for position in np.flatnonzero(np.isnan(trial)):
        raise _fail(where, position, "trial", "empty: every row needs its trial")
    step = _numbers(frame, "step", where, integer=True)
    value = _numbers(frame, "value", where, integer=False)
    # A failed or pruned trial that ended before its first step: one row, step and value empty.
    no_point = np.isnan(step) & np.isnan(value) & np.isin(status, ["failed", "pruned"])
    for position in np.flatnonzero(np.isnan(step) & ~no_point):
        raise _fail(where, position, "step", "empty (NaN): every curve point needs its step")
    for position in np.flatnonzero(step < 0):
        raise _fail(where, position, "step", f"{int(step[position])} is negative")
    for position in np.flatnonzero(np.isnan(value) & ~no_point):
        raise _fail(where, position, "value", "empty (NaN): every curve point needs a value")
    step = np.where(no_point, -1, step)
    return {"task": tasks, "trial": trial.astype(np.int64), "step": step.astype(np.int64),
            "value": value}


def _check_task_names(tasks: np.ndarray, where: str) -> None:
    """Every row names a task, by a valid name (:mod:`metasearch.names`)."""
    for position in np.flatnonzero(tasks == None):  # noqa: E711 - elementwise
        raise _fail(where, position, "task", "empty: every row needs its task")
    first: dict[str, int] = {}
    for row, name in enumerate(tasks):  # each distinct name once, at its first row
        first.setdefault(name, row)
    for name, row in first.items():
        try:
            check_name(name, "task")
        except InvalidNameError as exc:
            # by row, not ``tasks == name``: NumPy drops a name's trailing NUL characters
            # when it compares, so such a name matched no row and the error was an IndexError
            raise _fail(where, row, "task", str(exc)) from exc


def _status(frame: pd.DataFrame, where: str) -> np.ndarray:
    if "status" not in frame.columns:
        return np.full(len(frame), "complete", dtype=object)
    status = _texts(frame, "status", where)
    for position, value in enumerate(status):
        if value is not None and value not in STATUSES:
            raise _fail(where, position, "status", f"{value!r} is not one of {list(STATUSES)}")
    return np.where(status == None, "complete", status)  # noqa: E711


def _groups(points: dict[str, np.ndarray], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Row order sorted by (task, trial, step) and the start of each trial in it."""
    order = np.lexsort((points["step"], points["trial"], points["task"].astype(str)))
    task, trial, step = (points[k][order] for k in ("task", "trial", "step"))
    same_trial = (task[1:] == task[:-1]) & (trial[1:] == trial[:-1])
    for i in np.flatnonzero(same_trial & (step[1:] == step[:-1])):
        first, second = sorted((order[i], order[i + 1]))
        raise TableFormatError(
            f"{where}: rows {first + 1} and {second + 1}, columns task, trial, step: duplicate "
            f"point (task {task[i]!r}, trial {trial[i]}, step {step[i]})"
        )
    starts = np.concatenate([[0], np.flatnonzero(~same_trial) + 1])
    return order, starts


def _constant(values: np.ndarray, order: np.ndarray, starts: np.ndarray, column: str,
              where: str) -> np.ndarray:
    """The value of each trial (its first row's); fails where a trial's rows disagree."""
    sorted_values = values[order]
    first = np.repeat(sorted_values[starts], np.diff(np.append(starts, len(order))))
    empty = np.array([_empty(v) for v in sorted_values])
    first_empty = np.array([_empty(v) for v in first])
    equal = (sorted_values == first) | (empty & first_empty)
    for i in np.flatnonzero(~equal):
        if not _same_json(column, sorted_values[i], first[i]):
            raise _fail(where, order[i], column, f"{plain(sorted_values[i])!r} differs from "
                        f"{plain(first[i])!r} on another row of the same trial")
    return sorted_values[starts]


def _same_json(column: str, a: Any, b: Any) -> bool:
    if column != "config" or not isinstance(a, str) or not isinstance(b, str):
        return False
    try:
        return bool(json.loads(a) == json.loads(b))
    except (json.JSONDecodeError, RecursionError):
        return False


def _configs(frame: pd.DataFrame, params: list[str], order: np.ndarray, starts: np.ndarray,
             where: str) -> list[dict[str, Any]]:
    rows = order[starts]
    if not params:
        column = _texts(frame, "config", where)
        _constant(column, order, starts, "config", where)
        return [_parse_config(column[r], r, where) for r in rows]
    per_param = {}
    for name in params:
        values = _param_values(frame, name, where)
        per_param[name] = _constant(values, order, starts, name, where)
    return [{name: plain(vals[i]) for name, vals in per_param.items() if not _empty(vals[i])}
            for i in range(len(rows))]


def _param_values(frame: pd.DataFrame, name: str, where: str) -> np.ndarray:
    """A parameter column; a text column that is numbers except some cells fails there."""
    import pandas as pd

    values = frame[name].to_numpy(dtype=object)
    if frame[name].dtype.kind in "OTU" or str(frame[name].dtype) in ("str", "string"):
        numbers = pd.to_numeric(frame[name], errors="coerce").to_numpy()
        given = frame[name].notna().to_numpy()
        if (given & ~np.isnan(numbers)).any() and (given & np.isnan(numbers)).any():
            position = int(np.flatnonzero(given & np.isnan(numbers))[0])
            raise _fail(where, position, name,
                        f"{values[position]!r} is not a number, unlike the column's other values")
    return values


def _parse_config(text: str | None, row: int, where: str) -> dict[str, Any]:
    if text is None:
        raise _fail(where, row, "config", "empty: every trial needs its configuration")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(where, row, "config", f"not valid JSON ({exc.msg}): {text[:200]!r}") from exc
    except RecursionError as exc:
        raise _fail(where, row, "config", "JSON nested too deeply to read") from exc
    if not isinstance(config, dict):
        raise _fail(where, row, "config", f"not a JSON object: {text!r}")
    return config


def _check_space(configs: list[dict[str, Any]], rows: np.ndarray, params: list[str],
                 space: SearchSpace | None, where: str) -> tuple[list[dict[str, Any]],
                                                                 SearchSpace]:
    """The configurations validated against ``space``, or the space inferred from them."""
    if space is None:
        names = sorted({key for config in configs for key in config})
        for i, config in enumerate(configs):
            for name in names:
                if name not in config:
                    raise _fail(where, rows[i], name if params else "config",
                                f"parameter {name!r} is empty: a family inferred from a table "
                                "needs every parameter in every trial (register the family "
                                "for conditional parameters)")
        try:
            space = infer_space(configs)
        except (ValueError, SpaceError) as exc:
            raise TableFormatError(f"{where}: {exc}") from exc
    valid = []
    for i, config in enumerate(configs):
        try:
            valid.append(space.validate(config))
        except SpaceError as exc:
            raise _fail(where, rows[i], _culprit(str(exc), params), str(exc)) from exc
    return valid, space


def _culprit(message: str, params: list[str]) -> str:
    """The parameter column a space error is about (``config`` for a JSON column)."""
    if not params:
        return "config"
    named = [p for p in params if message.startswith(f"{p}=") or f"'{p}'" in message]
    return named[0] if named else "/".join(params)


def parse_trials(
    frame: pd.DataFrame, space: SearchSpace | None, where: str
) -> tuple[list[TrialData], SearchSpace]:
    """Check a long-format table and turn it into trials (and the space, inferred if None)."""
    params = _check_columns(frame, where)
    status = _status(frame, where)
    points = _points(frame, where, status)
    order, starts = _groups(points, where)
    trial_level: dict[str, np.ndarray] = {"status": _constant(status, order, starts, "status",
                                                              where)}
    for column, integer in NUMERIC_TRIAL.items():
        if column in frame.columns:
            values = _numbers(frame, column, where, integer=integer).astype(object)
            trial_level[column] = _constant(values, order, starts, column, where)
    for column in ("failure_reason", "device"):
        if column in frame.columns:
            texts = _texts(frame, column, where)
            trial_level[column] = _constant(texts, order, starts, column, where)
    elapsed = (_numbers(frame, "elapsed_s", where, integer=False)
               if "elapsed_s" in frame.columns else None)
    configs, space = _check_space(_configs(frame, params, order, starts, where),
                                  order[starts], params, space, where)
    ends = np.append(starts[1:], len(order))
    trials = []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        rows = order[start:end]
        rows = rows[points["step"][rows] >= 0]
        trials.append(_trial(points, rows, elapsed, configs[i], order[start],
                             {k: v[i] for k, v in trial_level.items()}))
    return trials, space


def _get(level: Mapping[str, Any], key: str, kind: type) -> Any:
    value = level.get(key)
    return None if _empty(value) else kind(value)


def _trial(points: dict[str, np.ndarray], rows: np.ndarray, elapsed: np.ndarray | None,
           config: dict[str, Any], first: int, level: Mapping[str, Any]) -> TrialData:
    curve = tuple(float(v) for v in points["value"][rows])
    times = () if elapsed is None or np.isnan(elapsed[rows]).any() else tuple(
        float(v) for v in elapsed[rows])
    final = _get(level, "final_value", float)
    return TrialData(
        task=str(points["task"][first]), number=int(points["trial"][first]), config=config,
        status=level["status"], curve=curve,
        steps=tuple(int(s) for s in points["step"][rows]), elapsed=times,
        final_value=final if final is not None else (curve[-1] if curve else None),
        test_value=_get(level, "test_value", float), cost_s=_get(level, "cost", float),
        failure_reason=_get(level, "failure_reason", str), budget=_get(level, "budget", int),
        seed=_get(level, "seed", int), device=_get(level, "device", str),
    )


def read_meta_features(path: Path) -> dict[str, dict[str, float]]:
    """Meta-features per task from a table with a ``task`` column and numeric columns.

    An empty cell means the feature is unknown for that task and is left out.
    """
    frame = read_table(path)
    where = path.name
    if "task" not in frame.columns:
        raise TableFormatError(f"{where}: missing column 'task' (it has "
                               f"{', '.join(map(str, frame.columns))})")
    tasks = _texts(frame, "task", where)
    _check_task_names(tasks, where)
    seen: dict[str, int] = {}
    for row, task in enumerate(tasks):
        if task in seen:
            raise _fail(where, row, "task", f"task {task!r} is also on row {seen[task] + 1}")
        seen[task] = row
    columns = {str(c): _numbers(frame, c, where, integer=False)
               for c in frame.columns if c != "task"}
    return {
        task: {c: float(v[i]) for c, v in columns.items() if not np.isnan(v[i])}
        for i, task in enumerate(tasks)
    }
