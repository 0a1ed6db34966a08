"""Reading the warehouse into records and DataFrames: one query per table read.

The meta-training read (every trial and every curve point of a family, or of a list of its
tasks) is one ``SELECT`` for trials and one for curves, streamed straight into columns; nothing
is loaded row by row through an ORM.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, Select, case, func, select

from metasearch.errors import UnknownFamilyError
from metasearch.spaces import SearchSpace
from metasearch.records import (
    FamilyRecord,
    RunRecord,
    TaskRecord,
    TaskStats,
    TrialRecord,
    loads,
)
from metasearch.warehouse._schema import curves, families, runs, tasks, trials

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TRIAL_COLUMNS",
    "curves_frame",
    "family_id",
    "family_records",
    "run_records",
    "task_records",
    "task_stats",
    "trial_counts",
    "trial_records",
    "trials_frame",
]

TRIAL_COLUMNS = (
    "trial_id", "run", "task", "number", "status", "final_value", "test_value", "cost_s",
    "failure_reason", "budget", "seed", "device", "config", "attrs",
)
CURVE_COLUMNS = ("trial_id", "task", "step", "value", "elapsed_s")


def family_id(conn: Connection, name: str, where: str) -> int:
    """The id of the family called ``name``, or an error naming the families stored."""
    found = conn.execute(select(families.c.id).where(families.c.name == name)).scalar()
    if found is None:
        known = conn.execute(select(families.c.name).order_by(families.c.name)).scalars().all()
        raise UnknownFamilyError(
            f"no family {name!r} in warehouse {where}: it has "
            + (", ".join(known) if known else "no family yet")
        )
    return int(found)


def family_records(conn: Connection) -> list[FamilyRecord]:
    """Every stored family, by name."""
    rows = conn.execute(select(families).order_by(families.c.name)).all()
    return [
        FamilyRecord(
            name=r.name, metric=r.metric, direction=r.direction, max_budget=r.max_budget,
            source=r.source, space=SearchSpace.from_dict(loads(r.space)),
            fingerprint=r.space_fingerprint, created_at=r.created_at,
        )
        for r in rows
    ]


def task_records(conn: Connection, fid: int, family: str) -> list[TaskRecord]:
    """The tasks of one family, by name."""
    rows = conn.execute(select(tasks.c.name, tasks.c.meta_features)
                        .where(tasks.c.family_id == fid).order_by(tasks.c.name)).all()
    return [TaskRecord(family, r.name, loads(r.meta_features)) for r in rows]


def run_records(conn: Connection) -> list[RunRecord]:
    """Every run, oldest first."""
    query = select(runs, families.c.name.label("family")).join(
        families, runs.c.family_id == families.c.id).order_by(runs.c.id)
    return [
        RunRecord(
            source_key=r.source_key, kind=r.kind, family=r.family, study=r.study, seed=r.seed,
            device=r.device, package_version=r.package_version, created_at=r.created_at,
            info=loads(r.info),
        )
        for r in conn.execute(query).all()
    ]


def _filter(
    query: Select[Any], fid: int, only: Sequence[str] | None, exclude: Sequence[str] | None
) -> Select[Any]:
    query = query.where(tasks.c.family_id == fid)
    if only is not None:
        query = query.where(tasks.c.name.in_(list(only)))
    if exclude:
        query = query.where(tasks.c.name.not_in(list(exclude)))
    return query


def _trials_query(
    fid: int, only: Sequence[str] | None, exclude: Sequence[str] | None, source: str | None
) -> Select[Any]:
    query = (
        select(trials.c.id, runs.c.source_key, tasks.c.name, trials.c.number, trials.c.status,
               trials.c.final_value, trials.c.test_value, trials.c.cost_s,
               trials.c.failure_reason, trials.c.budget, trials.c.seed, trials.c.device,
               trials.c.config, trials.c.attrs)
        .join(tasks, trials.c.task_id == tasks.c.id)
        .join(runs, trials.c.run_id == runs.c.id)
        .order_by(tasks.c.name, trials.c.id)
    )
    if source is not None:
        query = query.where(runs.c.source_key == source)
    return _filter(query, fid, only, exclude)


def _decode_trial(row: Sequence[Any]) -> list[Any]:
    out = list(row)
    out[-2] = loads(out[-2])
    out[-1] = loads(out[-1]) or {}
    return out


def trials_frame(
    conn: Connection, fid: int, only: Sequence[str] | None, exclude: Sequence[str] | None
) -> pd.DataFrame:
    """One row per trial; ``config`` and ``attrs`` are dicts."""
    import pandas as pd

    rows = [_decode_trial(r) for r in conn.execute(_trials_query(fid, only, exclude, None))]
    frame = pd.DataFrame.from_records(rows, columns=list(TRIAL_COLUMNS))
    for column in ("number", "budget", "seed"):
        frame[column] = frame[column].astype("Int64")
    return frame.astype({c: "float64" for c in ("final_value", "test_value", "cost_s")})


def bounds_frame(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Best and worst complete final value per task of a :func:`trials_frame`.

    What regret is scaled by (compare) and what a similar task's values are put in context
    by (suggest); ``direction`` (``maximize`` or ``minimize``) says which end is best.
    """
    import pandas as pd

    done = frame[(frame["status"] == "complete") & frame["final_value"].notna()]
    sign = 1.0 if direction == "maximize" else -1.0
    rows: dict[str, dict[str, float]] = {}
    for task, values in done.groupby("task")["final_value"]:
        v = sign * values.to_numpy(dtype=np.float64)
        rows[str(task)] = {"best": float(v.max() * sign), "worst": float(v.min() * sign)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["best", "worst"])


def curves_frame(
    conn: Connection, fid: int, only: Sequence[str] | None, exclude: Sequence[str] | None
) -> pd.DataFrame:
    """Every curve point, long format: ``trial_id, task, step, value, elapsed_s``.

    The query returns numbers only (the task as its id, named afterwards from a small map);
    sorting by trial and step happens in numpy, where it costs less than an ``ORDER BY``
    across the join.
    """
    import pandas as pd

    query = _filter(
        select(curves.c.trial_id, trials.c.task_id, curves.c.step, curves.c.value,
               curves.c.elapsed_s)
        .join(trials, curves.c.trial_id == trials.c.id)
        .join(tasks, trials.c.task_id == tasks.c.id),
        fid, only, exclude,
    )
    names = dict(conn.execute(select(tasks.c.id, tasks.c.name).where(tasks.c.family_id == fid))
                 .all())
    # Plain tuples from the driver's cursor straight into one float array: a Row object per
    # point would double the time of this, the read every meta-training run starts with.
    rows = conn.execute(query).cursor.fetchall()
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)  # NULL elapsed -> NaN
    trial_id, task_id, step, value, elapsed = table.T
    order = np.lexsort((step, trial_id))
    ids = sorted(names)
    codes = np.searchsorted(np.array(ids, dtype=np.float64), task_id[order]).astype(np.int64)
    return pd.DataFrame({
        "trial_id": trial_id[order].astype(np.int64),
        "task": pd.Categorical.from_codes(codes, categories=pd.Index([names[i] for i in ids])),
        "step": step[order].astype(np.int64),
        "value": value[order],
        "elapsed_s": elapsed[order],  # NaN where the source did not time it
    })


def trial_records(
    conn: Connection,
    fid: int,
    only: Sequence[str] | None,
    exclude: Sequence[str] | None,
    source: str | None,
) -> list[TrialRecord]:
    """Trials with their curves as frozen records (two queries)."""
    rows = [_decode_trial(r) for r in conn.execute(_trials_query(fid, only, exclude, source))]
    points: dict[int, list[tuple[int, float, float | None]]] = defaultdict(list)
    wanted = {r[0] for r in rows}
    query = _filter(
        select(curves.c.trial_id, curves.c.step, curves.c.value, curves.c.elapsed_s)
        .join(trials, curves.c.trial_id == trials.c.id)
        .join(tasks, trials.c.task_id == tasks.c.id)
        .join(runs, trials.c.run_id == runs.c.id)
        .order_by(curves.c.trial_id, curves.c.step),
        fid, only, exclude,
    )
    if source is not None:
        query = query.where(runs.c.source_key == source)
    for trial_id, step, value, elapsed in conn.execute(query):
        if trial_id in wanted:
            points[trial_id].append((step, value, elapsed))
    out = []
    for row in rows:
        steps, values, elapsed = zip(*points[row[0]], strict=True) if points[row[0]] else ((),) * 3
        out.append(TrialRecord(**dict(zip(TRIAL_COLUMNS, row, strict=True)), steps=tuple(steps),
                               curve=tuple(values), elapsed=tuple(elapsed)))
    return out


def task_stats(conn: Connection, family: str | None) -> list[TaskStats]:
    """Per task: trials by status, curve points and the best complete final value."""
    def count(status: str) -> Any:
        return func.sum(case((trials.c.status == status, 1), else_=0))

    done = trials.c.status == "complete"
    query = (
        select(families.c.name.label("family"), families.c.direction, tasks.c.name.label("task"),
               func.count(trials.c.id), count("complete"), count("failed"), count("pruned"),
               func.max(case((done, trials.c.final_value))),
               func.min(case((done, trials.c.final_value))))
        .select_from(tasks)
        .join(families, tasks.c.family_id == families.c.id)
        .outerjoin(trials, trials.c.task_id == tasks.c.id)
        .group_by(families.c.name, families.c.direction, tasks.c.name)
        .order_by(families.c.name, tasks.c.name)
    )
    points_query = (
        select(tasks.c.id, families.c.name, tasks.c.name, func.count())
        .select_from(curves)
        .join(trials, curves.c.trial_id == trials.c.id)
        .join(tasks, trials.c.task_id == tasks.c.id)
        .join(families, tasks.c.family_id == families.c.id)
        .group_by(tasks.c.id, families.c.name, tasks.c.name)
    )
    if family is not None:
        query = query.where(families.c.name == family)
        points_query = points_query.where(families.c.name == family)
    points = {(f, t): n for _, f, t, n in conn.execute(points_query)}
    return [
        TaskStats(
            family=r[0], task=r[2], trials=r[3], complete=r[4] or 0, failed=r[5] or 0,
            pruned=r[6] or 0, curve_points=points.get((r[0], r[2]), 0),
            best_value=r[7] if r[1] == "maximize" else r[8],
        )
        for r in conn.execute(query)
    ]


def trial_counts(conn: Connection, family: str) -> dict[str, int]:
    """Trials stored per source key of ``family`` (empty when the family is not stored)."""
    query = (
        select(runs.c.source_key, func.count(trials.c.id))
        .join(families, runs.c.family_id == families.c.id)
        .outerjoin(trials, trials.c.run_id == runs.c.id)
        .where(families.c.name == family)
        .group_by(runs.c.source_key)
    )
    return {key: int(n) for key, n in conn.execute(query)}
