"""Schema versions: newer refused, older migrated with data intact, failed migrations undone."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest
import sqlalchemy
from sqlalchemy import Connection, inspect, text

from metasearch.errors import SchemaVersionError
from metasearch.families import get_family
from metasearch.warehouse import SCHEMA_VERSION, Warehouse
from metasearch.warehouse._engine import engine_for, resolve_url, transaction
from metasearch.warehouse._migrations import MIGRATIONS, upgrade
from metasearch.warehouse._schema import metadata

SYN = get_family("synthetic")


def _execute(url: str, sql: str, params: dict[str, object] | None = None) -> None:
    engine = engine_for(resolve_url(url))
    with transaction(engine, write=True, where=url) as conn:
        conn.execute(text(sql), params or {})
    engine.dispose()


def test_a_newer_warehouse_is_refused_naming_both_versions(warehouse_url: str) -> None:
    Warehouse.open(warehouse_url).close()
    _execute(warehouse_url, "UPDATE schema_version SET version = :v", {"v": SCHEMA_VERSION + 5})
    with pytest.raises(SchemaVersionError, match=(
            f"schema version {SCHEMA_VERSION + 5}, newer than version {SCHEMA_VERSION}")):
        Warehouse.open(warehouse_url)


def _fill_version_1(conn: Connection) -> None:
    """Rows as version 1 stored them (no trial attributes)."""
    now = datetime.now(timezone.utc)
    space = json.dumps(SYN.space.to_dict(), sort_keys=True)
    conn.execute(text(
        "INSERT INTO families (id, name, metric, direction, max_budget, source, space, "
        "space_fingerprint, created_at) VALUES (1, 'synthetic', 'valid_score', 'maximize', 20, "
        "'registry', :space, :fp, :now)"), {"space": space, "fp": SYN.space.fingerprint(),
                                            "now": now})
    conn.execute(text("INSERT INTO tasks (id, family_id, name, meta_features) "
                      "VALUES (1, 1, 'synthetic-00', :features)"), {"features": '{"a":1.0}'})
    conn.execute(text("INSERT INTO runs (id, source_key, kind, family_id, package_version, "
                      "created_at, info) VALUES (1, 'old', 'run', 1, '0.0.1', :now, '{}')"),
                 {"now": now})
    config = json.dumps(SYN.space.sample(np.random.default_rng(0)))
    conn.execute(text("INSERT INTO trials (id, run_id, task_id, number, config, status, "
                      "final_value) VALUES (1, 1, 1, 0, :c, 'complete', 0.5)"), {"c": config})
    conn.execute(text("INSERT INTO curves (trial_id, step, value) VALUES (1, 1, 0.4), "
                      "(1, 2, 0.5)"))


def test_an_older_warehouse_is_migrated_with_its_data(warehouse_url: str) -> None:
    engine = engine_for(resolve_url(warehouse_url))
    with transaction(engine, write=True, where=warehouse_url) as conn:
        assert upgrade(conn, warehouse_url, target=1) == (0, 1)
        _fill_version_1(conn)
    engine.dispose()
    with Warehouse.open(warehouse_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        (trial,) = store.trial_records("synthetic")
        assert (trial.run, trial.final_value, trial.curve, trial.attrs) == (
            "old", 0.5, (0.4, 0.5), {})
        assert store.tasks("synthetic")[0].meta_features == {"a": 1.0}


def test_migrating_an_empty_database_yields_the_code_schema(warehouse: Warehouse) -> None:
    engine = engine_for(resolve_url(warehouse.full_url))
    with engine.connect() as conn:
        found = inspect(conn)
        for table in metadata.sorted_tables:
            columns = {c["name"] for c in found.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
        assert "ix_trials_task_id" in {i["name"] for i in found.get_indexes("trials")}
    engine.dispose()
    assert len(MIGRATIONS) == SCHEMA_VERSION == warehouse.schema_version


def test_a_failing_migration_leaves_the_database_as_it_was(warehouse_url: str) -> None:
    def broken(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (x INTEGER)"))
        raise RuntimeError("migration bug")

    engine = engine_for(resolve_url(warehouse_url))
    with pytest.raises(RuntimeError, match="migration bug"), transaction(
            engine, write=True, where=warehouse_url) as conn:
        upgrade(conn, warehouse_url, migrations=[MIGRATIONS[0], broken])
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == []
    engine.dispose()
    with Warehouse.open(warehouse_url) as store:  # and it can still be created afterwards
        assert store.schema_version == SCHEMA_VERSION


def test_sqlite_and_postgres_urls_resolve() -> None:
    assert resolve_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert resolve_url("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    assert isinstance(resolve_url("x.db"), sqlalchemy.URL)
