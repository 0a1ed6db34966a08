"""The warehouse's tables as the code reads and writes them (the newest schema version).

SQLAlchemy Core tables, private to the store: nothing outside :mod:`metasearch.warehouse` sees
them. The tables are created and changed only by the migrations in
:mod:`metasearch.warehouse._migrations`; a test checks that migrating an empty database yields
exactly these columns.

JSON (configurations, meta-features, spaces, attributes) is stored as text written by one
encoder, so both backends keep the same bytes and NaN survives a round trip.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["curves", "families", "metadata", "model_files", "runs", "schema_version", "tasks",
           "trials"]

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)

families = Table(
    "families", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("metric", String(200), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("max_budget", Integer),
    Column("source", String(16), nullable=False),
    Column("space", Text, nullable=False),
    Column("space_fingerprint", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

tasks = Table(
    "tasks", metadata,
    Column("id", Integer, primary_key=True),
    Column("family_id", Integer, ForeignKey("families.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("meta_features", Text, nullable=False),
    UniqueConstraint("family_id", "name", name="uq_tasks_family_name"),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("source_key", String(1000), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("family_id", Integer, ForeignKey("families.id"), nullable=False),
    Column("study", String(500)),
    Column("seed", Integer),
    Column("device", String(50)),
    Column("package_version", String(50), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("info", Text, nullable=False),
)

trials = Table(
    "trials", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False, index=True),
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
    Column("attrs", Text),
    UniqueConstraint("run_id", "task_id", "number", name="uq_trials_run_task_number"),
)

curves = Table(
    "curves", metadata,
    # Not a declared foreign key, for bulk-ingest speed (see the first migration).
    Column("trial_id", Integer, primary_key=True, autoincrement=False),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("value", Float, nullable=False),
    Column("elapsed_s", Float),
    sqlite_with_rowid=False,
)

model_files = Table(
    "model_files", metadata,
    # A family's meta-model artifact, file by file; replaced as a whole in one transaction.
    Column("family_id", Integer, ForeignKey("families.id"), primary_key=True,
           autoincrement=False),
    Column("name", String(200), primary_key=True),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)
