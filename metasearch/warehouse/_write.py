"""Writing one batch of trials: family, tasks, run, trials and curves, inside one transaction.

Every write is idempotent by natural keys: a family by name, a task by (family, name), a run by
its source key, and a trial by (run, task, number). What is already stored is skipped, never
updated, so ingesting a source twice adds nothing, and two processes ingesting the same source
at once cannot duplicate a row (``INSERT ... ON CONFLICT DO NOTHING`` on both backends). Rows
are inserted in a fixed order (tasks by name, trials by task and number) so that concurrent
PostgreSQL writers wait for each other instead of deadlocking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update

from metasearch._version import __version__
from metasearch.errors import WarehouseError
from metasearch.warehouse._limits import check_write
from metasearch.records import (
    FamilySpec,
    IngestSummary,
    RunSpec,
    TrialData,
    dumps,
    finite_or_none,
    loads,
)
from metasearch.warehouse._schema import curves, families, runs, tasks, trials

__all__ = ["write_batch"]


def write_batch(
    conn: Connection,
    family: FamilySpec,
    run: RunSpec,
    batch: Sequence[TrialData],
    meta_features: Mapping[str, Mapping[str, float]],
) -> IngestSummary:
    """Write ``batch`` (and any new meta-features) in the caller's transaction.

    Everything is checked against the storage's limits first (:mod:`._limits`).
    """
    check_write(family, run, batch, meta_features, conn.dialect.name)
    family_id = _ensure_family(conn, family)
    names = sorted({t.task for t in batch} | set(meta_features))
    task_ids = _ensure_tasks(conn, family_id, family.name, names, meta_features)
    run_id = _ensure_run(conn, family_id, family.name, run)
    added, points = _insert_trials(conn, run_id, task_ids, batch)
    return IngestSummary(run.source_key, family.name, added, len(batch) - added, points)


def _insert_ignore(conn: Connection, table: Table, keys: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ensure_family(conn: Connection, family: FamilySpec) -> int:
    fingerprint = family.space.fingerprint()
    conn.execute(_insert_ignore(conn, families, ["name"]).values(
        name=family.name, metric=family.metric, direction=family.direction,
        max_budget=family.max_budget, source=family.source, space=dumps(family.space.to_dict()),
        space_fingerprint=fingerprint, created_at=_now(),
    ))
    row = conn.execute(select(families.c.id, families.c.direction, families.c.space_fingerprint)
                       .where(families.c.name == family.name)).one()
    if row.space_fingerprint != fingerprint or row.direction != family.direction:
        raise WarehouseError(
            f"family {family.name!r} is stored with space {row.space_fingerprint} "
            f"({row.direction}), but this one has space {fingerprint} ({family.direction}): "
            "its search space changed; write to a new warehouse or under a new family name"
        )
    return int(row.id)


def _ensure_tasks(
    conn: Connection,
    family_id: int,
    family: str,
    names: list[str],
    meta_features: Mapping[str, Mapping[str, float]],
) -> dict[str, int]:
    if not names:
        return {}
    rows = [{"family_id": family_id, "name": name,
             "meta_features": dumps(dict(meta_features.get(name, {})))} for name in names]
    conn.execute(_insert_ignore(conn, tasks, ["family_id", "name"]), rows)
    stored = conn.execute(select(tasks.c.id, tasks.c.name, tasks.c.meta_features).where(
        tasks.c.family_id == family_id, tasks.c.name.in_(names))).all()
    for row in stored:
        given = meta_features.get(row.name)
        if given:
            merged = _merge_features(family, row.name, loads(row.meta_features), given)
            if merged is not None:
                conn.execute(update(tasks).where(tasks.c.id == row.id)
                             .values(meta_features=dumps(merged)))
    return {row.name: int(row.id) for row in stored}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return bool(a == b)


def _merge_features(
    family: str, task: str, stored: dict[str, Any], given: Mapping[str, Any]
) -> dict[str, Any] | None:
    """``stored`` with the new keys of ``given`` added (None when nothing is new).

    A feature already stored keeps its value: one that disagrees is refused rather than
    silently overwritten, since models trained earlier used the stored one.
    """
    for key, value in given.items():
        if key in stored and not _same(stored[key], value):
            raise WarehouseError(
                f"task {task!r} of family {family!r}: meta-feature {key!r} is stored as "
                f"{stored[key]!r}, refusing the different value {value!r}"
            )
    new = {k: float(v) for k, v in given.items() if k not in stored}
    return {**stored, **new} if new else None


def _ensure_run(conn: Connection, family_id: int, family: str, run: RunSpec) -> int:
    conn.execute(_insert_ignore(conn, runs, ["source_key"]).values(
        source_key=run.source_key, kind=run.kind, family_id=family_id, study=run.study,
        seed=run.seed, device=run.device, package_version=__version__,
        created_at=_now(), info=dumps(dict(run.info)),
    ))
    row = conn.execute(select(runs.c.id, runs.c.family_id)
                       .where(runs.c.source_key == run.source_key)).one()
    if row.family_id != family_id:
        other = conn.execute(select(families.c.name).where(families.c.id == row.family_id))
        raise WarehouseError(
            f"source {run.source_key!r} is already stored for family {other.scalar()!r}, "
            f"not {family!r}: give this ingest another source key"
        )
    return int(row.id)


def _trial_row(run_id: int, task_id: int, trial: TrialData) -> dict[str, Any]:
    return {
        "run_id": run_id, "task_id": task_id, "number": int(trial.number),
        "config": dumps(dict(trial.config)), "status": trial.status,
        "final_value": finite_or_none(trial.final_value),
        "test_value": finite_or_none(trial.test_value),
        "cost_s": finite_or_none(trial.cost_s), "failure_reason": trial.failure_reason,
        "budget": trial.budget, "seed": trial.seed, "device": trial.device,
        "attrs": dumps(dict(trial.attrs)) if trial.attrs else None,
    }


def _insert_trials(
    conn: Connection, run_id: int, task_ids: Mapping[str, int], batch: Sequence[TrialData]
) -> tuple[int, int]:
    """Insert the trials of ``batch`` not stored yet, and their curves; (trials, points)."""
    stored = set(conn.execute(select(trials.c.task_id, trials.c.number)
                              .where(trials.c.run_id == run_id)))
    todo: dict[tuple[int, int], TrialData] = {}
    for trial in sorted(batch, key=lambda t: (t.task, t.number)):
        key = (task_ids[trial.task], int(trial.number))
        if key in todo:
            raise WarehouseError(
                f"trial {trial.number} of task {trial.task!r} is twice in one batch")
        if key not in stored:
            todo[key] = trial
    if not todo:
        return 0, 0
    rows = [_trial_row(run_id, task_id, trial) for (task_id, _), trial in todo.items()]
    statement = _insert_ignore(conn, trials, ["run_id", "task_id", "number"]).returning(
        trials.c.id, trials.c.task_id, trials.c.number)
    inserted = conn.execute(statement, rows).all()
    points = [
        (row.id, int(step), float(value), elapsed)
        for row in inserted
        for step, value, elapsed in todo[(row.task_id, row.number)].points()
    ]
    _insert_points(conn, points)
    return len(inserted), len(points)


def _insert_points(conn: Connection, points: list[tuple[int, int, float, float | None]]) -> None:
    """Bulk-insert curve points the fastest way each driver offers.

    PostgreSQL: ``COPY ... FROM STDIN`` (psycopg's executemany sends one statement per row,
    several times slower). SQLite: the driver's ``executemany`` on positional tuples. Both run
    on the transaction's own connection, so they commit or roll back with the rest.
    """
    if not points:
        return
    columns = "trial_id, step, value, elapsed_s"
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        driver = cast("Any", conn.connection.driver_connection)  # a psycopg.Connection
        with driver.cursor() as cursor, cursor.copy(
                f"COPY {curves.name} ({columns}) FROM STDIN") as copy:
            for point in points:
                copy.write_row(point)
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {curves.name} ({columns}) VALUES (?, ?, ?, ?)",
                             points)
    else:
        keys = ("trial_id", "step", "value", "elapsed_s")
        conn.execute(insert(curves), [dict(zip(keys, p, strict=True)) for p in points])
