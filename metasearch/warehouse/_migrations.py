"""The schema's versions: an ordered list of migrations, applied in one transaction.

Migration ``i`` (0-based) takes a warehouse from version ``i`` to ``i + 1``; an empty database
is version 0, and the code's version is ``len(MIGRATIONS)``. A migration builds its own frozen
copy of the tables it touches instead of reading :mod:`._schema`, so that it keeps doing what it
did when later versions change the tables (what Alembic's revision scripts do, without the
dependency). Opening a warehouse newer than the code is refused with both versions named.

Version 1 created the tables; version 2 added trial attributes (Optuna user attributes, and
parameters outside a family's space) and the index that the per-family reads use. Both predate
the first release; they are kept as two steps so the upgrade path runs from the first day.
Version 3 added ``model_files``: a family's meta-model artifact (its files, opaque to the
warehouse), so that every worker of a PostgreSQL warehouse reads the same model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    LargeBinary,
    inspect,
    text,
)

from metasearch.errors import SchemaVersionError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "check_not_newer", "read_version", "upgrade"]

Migration = Callable[[Connection], None]


def _v1_core_tables(conn: Connection) -> None:
    md = MetaData()
    Table("schema_version", md, Column("version", Integer, primary_key=True,
                                       autoincrement=False))
    Table("families", md,
          Column("id", Integer, primary_key=True),
          Column("name", String(200), nullable=False, unique=True),
          Column("metric", String(200), nullable=False),
          Column("direction", String(8), nullable=False),
          Column("max_budget", Integer),
          Column("source", String(16), nullable=False),
          Column("space", Text, nullable=False),
          Column("space_fingerprint", String(64), nullable=False),
          Column("created_at", DateTime(timezone=True)))
    Table("tasks", md,
          Column("id", Integer, primary_key=True),
          Column("family_id", Integer, ForeignKey("families.id"), nullable=False),
          Column("name", String(200), nullable=False),
          Column("meta_features", Text, nullable=False),
          UniqueConstraint("family_id", "name", name="uq_tasks_family_name"))
    Table("runs", md,
          Column("id", Integer, primary_key=True),
          Column("source_key", String(1000), nullable=False, unique=True),
          Column("kind", String(16), nullable=False),
          Column("family_id", Integer, ForeignKey("families.id"), nullable=False),
          Column("study", String(500)),
          Column("seed", Integer),
          Column("device", String(50)),
          Column("package_version", String(50), nullable=False),
          Column("created_at", DateTime(timezone=True)),
          Column("info", Text, nullable=False))
    Table("trials", md,
          Column("id", Integer, primary_key=True),
          Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
          Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False),
          Column("number", Integer, nullable=False),
          Column("config", Text, nullable=False),
          Column("status", String(16), nullable=False),
          Column("final_value", Float),
          Column("test_value", Float),
          Column("cost_s", Float),
          Column("failure_reason", Text),
          Column("budget", Integer),
          Column("seed", Integer),
          Column("device", String(50)),
          UniqueConstraint("run_id", "task_id", "number", name="uq_trials_run_task_number"))
    # Clustered on (trial, step) in SQLite: a trial's curve is one contiguous range. trial_id
    # is deliberately not a declared foreign key: PostgreSQL checks one with a trigger per row,
    # which made bulk ingest four times slower, and every point is written by one function in
    # the transaction that writes its trial.
    Table("curves", md,
          Column("trial_id", Integer, primary_key=True, autoincrement=False),
          Column("step", Integer, primary_key=True, autoincrement=False),
          Column("value", Float, nullable=False),
          Column("elapsed_s", Float),
          sqlite_with_rowid=False)
    md.create_all(conn)


def _v2_trial_attrs(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE trials ADD COLUMN attrs TEXT"))
    md = MetaData()
    trials = Table("trials", md, Column("task_id", Integer))
    Index("ix_trials_task_id", trials.c.task_id).create(conn)


def _v3_model_files(conn: Connection) -> None:
    md = MetaData()
    Table("families", md, Column("id", Integer, primary_key=True))
    Table("model_files", md,
          Column("family_id", Integer, ForeignKey("families.id"), primary_key=True,
                 autoincrement=False),
          Column("name", String(200), primary_key=True),
          Column("content", LargeBinary, nullable=False),
          Column("created_at", DateTime(timezone=True)))
    md.tables["model_files"].create(conn)


MIGRATIONS: tuple[Migration, ...] = (_v1_core_tables, _v2_trial_attrs, _v3_model_files)
SCHEMA_VERSION = len(MIGRATIONS)


def read_version(conn: Connection, where: str) -> int:
    """The schema version of the database behind ``conn`` (0 when it is empty).

    Raises:
        SchemaVersionError: the database has tables but is not a warehouse.
    """
    names = inspect(conn).get_table_names()
    if "schema_version" not in names:
        if names:
            shown = ", ".join(sorted(names)[:6])
            raise SchemaVersionError(
                f"{where} is not a metasearch warehouse: it has tables ({shown}) but no "
                "schema_version; point --warehouse at a new file, or at a PostgreSQL schema "
                "of its own (?options=-csearch_path%3DNAME)"
            )
        return 0
    version = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(version or 0)


def check_not_newer(version: int, where: str, newest: int = SCHEMA_VERSION) -> None:
    """Refuse a warehouse whose schema is newer than the code, naming both versions."""
    if version > newest:
        raise SchemaVersionError(
            f"{where} has warehouse schema version {version}, newer than version {newest} that "
            "this metasearch knows: upgrade metasearch to open it"
        )


def upgrade(
    conn: Connection,
    where: str,
    *,
    target: int | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> tuple[int, int]:
    """Migrate the database behind ``conn`` to ``target`` (default: the newest version).

    Call inside a write transaction that holds the migration lock: all steps commit together
    or not at all.

    Returns:
        The versions before and after.

    Raises:
        SchemaVersionError: the database is newer than ``migrations`` know.
    """
    newest = len(migrations)
    target = newest if target is None else target
    current = read_version(conn, where)
    check_not_newer(current, where, newest)
    for step in range(current, target):
        migrations[step](conn)
    if target != current:
        table = Table("schema_version", MetaData(), Column("version", Integer))
        conn.execute(table.delete())
        conn.execute(table.insert().values(version=target))
    return current, max(current, target)

