"""The warehouse: every trial and learning curve of every task, in SQLite or PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from metasearch.errors import SchemaVersionError
from metasearch.warehouse import _read
from metasearch.warehouse._engine import engine_for, lock_for_migration, resolve_url, transaction
from metasearch.warehouse._migrations import (
    SCHEMA_VERSION,
    check_not_newer,
    read_version,
    upgrade,
)
from metasearch.records import (
    FamilyLike,
    FamilyRecord,
    FamilySpec,
    IngestSummary,
    RunRecord,
    RunSpec,
    TaskRecord,
    TaskStats,
    TrialData,
    TrialRecord,
)
from metasearch.warehouse._schema import curves, families, model_files, runs, tasks, trials
from metasearch.warehouse._write import write_batch

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

__all__ = ["Warehouse"]

TaskFilter = Sequence[str] | None


class Warehouse:
    """The store of families, tasks, runs, trials and curves.

    Open one with :meth:`open`. Every write (:meth:`ingest`) is one transaction and idempotent;
    every read returns frozen records or DataFrames, never database objects. A ``Warehouse``
    may be used from one thread at a time; processes each open their own, and any number of
    them may read and write the same warehouse at once.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        """The warehouse's URL, password hidden (for messages)."""

    @classmethod
    def open(cls, path_or_url: str | os.PathLike[str] | None = None) -> Warehouse:
        """Open (creating or migrating when needed) the warehouse at ``path_or_url``.

        Args:
            path_or_url: an SQLite file path (created with its folders when missing), an
                SQLAlchemy URL, or None for ``$METASEARCH_WAREHOUSE`` or the shipped
                ``warehouse/warehouse.db``.

        Raises:
            SchemaVersionError: the warehouse is newer than this code, or is not a warehouse.
            WarehouseError: it cannot be reached or read.
        """
        url = resolve_url(path_or_url)
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise SchemaVersionError(
                f"unsupported warehouse backend {url.get_backend_name()!r} in "
                f"{url.render_as_string(hide_password=True)}: use an SQLite path or PostgreSQL"
            )
        warehouse = cls(engine_for(url))
        try:
            warehouse._migrate()
        except BaseException:
            warehouse.close()
            raise
        return warehouse

    def _migrate(self) -> None:
        with transaction(self._engine, write=False, where=self.url) as conn:
            version = read_version(conn, self.url)
        check_not_newer(version, self.url)  # refused without taking the write lock
        if version == SCHEMA_VERSION:
            return
        with transaction(self._engine, write=True, where=self.url) as conn:
            lock_for_migration(conn)
            upgrade(conn, self.url)

    @property
    def full_url(self) -> str:
        """The URL with its password, for handing to worker processes (never print it)."""
        return self._engine.url.render_as_string(hide_password=False)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.url.get_backend_name()

    @property
    def schema_version(self) -> int:
        """The schema version stored in the warehouse."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            return read_version(conn, self.url)

    def close(self) -> None:
        """Release every connection."""
        self._engine.dispose()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Warehouse({self.url!r})"

    # -- writing --------------------------------------------------------------------------

    def ingest(
        self,
        family: FamilySpec | FamilyLike,
        run: RunSpec,
        batch: Sequence[TrialData],
        *,
        meta_features: Mapping[str, Mapping[str, float]] | None = None,
    ) -> IngestSummary:
        """Write ``batch`` from source ``run`` in one transaction: all of it or nothing.

        Trials already stored under ``(run.source_key, task, number)`` are skipped, so
        re-ingesting a source adds nothing. The family is stored on first use, with its
        space; a later write whose space differs is refused.

        Args:
            family: the family (a registered ``TaskFamily`` or a :class:`FamilySpec`).
            run: the source of the batch.
            batch: the trials, with their curves.
            meta_features: per task name; keys not stored yet are added.
        """
        spec = family if isinstance(family, FamilySpec) else FamilySpec.of(family)
        with transaction(self._engine, write=True, where=self.url) as conn:
            return write_batch(conn, spec, run, batch, meta_features or {})

    def put_model_files(self, family: str, files: Mapping[str, bytes]) -> None:
        """Store ``files`` as the meta-model of ``family``, replacing the previous one.

        One transaction, with the family's row locked: readers see the old model or the new
        one, never a mix, and two writers take turns. The warehouse does not read the files
        (the meta-model's artifact format is the meta-model's business).

        Raises:
            UnknownFamilyError: ``family`` is not stored.
        """
        now = datetime.now(timezone.utc)
        with transaction(self._engine, write=True, where=self.url) as conn:
            fid = _read.family_id(conn, family, self.url)
            if conn.dialect.name == "postgresql":
                conn.execute(select(families.c.id).where(families.c.id == fid).with_for_update())
            conn.execute(model_files.delete().where(model_files.c.family_id == fid))
            rows = [{"family_id": fid, "name": name, "content": bytes(content),
                     "created_at": now} for name, content in files.items()]
            if rows:
                conn.execute(model_files.insert(), rows)

    def model_files(self, family: str) -> dict[str, bytes]:
        """The meta-model files stored for ``family`` (empty when none, or no such family)."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            rows = conn.execute(
                select(model_files.c.name, model_files.c.content)
                .join(families, families.c.id == model_files.c.family_id)
                .where(families.c.name == family))
            return {str(name): bytes(content) for name, content in rows}

    # -- reading --------------------------------------------------------------------------

    def families(self) -> list[FamilyRecord]:
        """Every stored family, by name."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            return _read.family_records(conn)

    def family(self, name: str) -> FamilyRecord:
        """The stored family ``name`` (:class:`UnknownFamilyError` names those stored)."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            _read.family_id(conn, name, self.url)
        return next(f for f in self.families() if f.name == name)

    def has_family(self, name: str) -> bool:
        """Whether a family called ``name`` is stored."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            found = conn.execute(select(families.c.id).where(families.c.name == name))
            return found.scalar() is not None

    def tasks(self, family: str) -> list[TaskRecord]:
        """The tasks of ``family``, by name."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            return _read.task_records(conn, _read.family_id(conn, family, self.url), family)

    def runs(self, family: str | None = None) -> list[RunRecord]:
        """Every run (of ``family``), oldest first."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            records = _read.run_records(conn)
        return [r for r in records if family is None or r.family == family]

    def trials(
        self, family: str, *, tasks: TaskFilter = None, exclude_tasks: TaskFilter = None
    ) -> pd.DataFrame:
        """The trials of ``family`` (only ``tasks``, none of ``exclude_tasks``), one per row.

        Columns: ``trial_id, run, task, number, status, final_value, test_value, cost_s,
        failure_reason, budget, seed, device, config`` (a dict) and ``attrs`` (a dict).
        A meta-training split is ``tasks=train`` and the evaluation ``exclude_tasks=train``.
        """
        with transaction(self._engine, write=False, where=self.url) as conn:
            fid = _read.family_id(conn, family, self.url)
            return _read.trials_frame(conn, fid, tasks, exclude_tasks)

    def task_bounds(self, family: str, direction: str, *, tasks: TaskFilter = None
                    ) -> pd.DataFrame:
        """Best and worst complete final value per task of ``family`` (only ``tasks``).

        Indexed by task, columns ``best`` and ``worst``; ``direction`` says which end is best.
        """
        return _read.bounds_frame(self.trials(family, tasks=tasks), direction)

    def curves(
        self, family: str, *, tasks: TaskFilter = None, exclude_tasks: TaskFilter = None
    ) -> pd.DataFrame:
        """Every curve point of ``family``, long format, ordered by trial and step.

        Columns: ``trial_id`` (joins :meth:`trials`), ``task`` (categorical), ``step``,
        ``value`` and ``elapsed_s`` (NaN where the source did not time it).
        """
        with transaction(self._engine, write=False, where=self.url) as conn:
            fid = _read.family_id(conn, family, self.url)
            return _read.curves_frame(conn, fid, tasks, exclude_tasks)

    def trial_records(
        self,
        family: str,
        *,
        tasks: TaskFilter = None,
        exclude_tasks: TaskFilter = None,
        source_key: str | None = None,
    ) -> list[TrialRecord]:
        """Trials with their whole curves as frozen records, by task then insertion order."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            fid = _read.family_id(conn, family, self.url)
            return _read.trial_records(conn, fid, tasks, exclude_tasks, source_key)

    def trial_counts(self, family: str) -> dict[str, int]:
        """Trials stored per source key of ``family`` (empty when it is not stored)."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            return _read.trial_counts(conn, family)

    def stats(self, family: str | None = None) -> list[TaskStats]:
        """Per task (of ``family``): trials by status, curve points and best final value."""
        with transaction(self._engine, write=False, where=self.url) as conn:
            if family is not None:
                _read.family_id(conn, family, self.url)
            return _read.task_stats(conn, family)

    def counts(self) -> dict[str, int]:
        """Rows per table: families, tasks, runs, trials, curve points."""
        tables: dict[str, Any] = {"families": families, "tasks": tasks, "runs": runs,
                                  "trials": trials, "curve_points": curves}
        with transaction(self._engine, write=False, where=self.url) as conn:
            return {name: int(conn.execute(select(func.count()).select_from(table)).scalar()
                              or 0) for name, table in tables.items()}
