"""One parametrized fixture runs every warehouse test on SQLite and on PostgreSQL.

PostgreSQL runs when ``METASEARCH_TEST_POSTGRES_URL`` names a database (``.ci/postgres.sh``
starts one and prints it); each test then gets a schema of its own, dropped afterwards, and
reaches it through ``search_path`` in the URL, so subprocesses connect to the same schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from metasearch.warehouse import Warehouse

POSTGRES_ENV = "METASEARCH_TEST_POSTGRES_URL"


def _postgres_schema_url() -> Iterator[str]:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (`eval \"$(bash .ci/postgres.sh)\"` sets it)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sqlalchemy.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty warehouse location on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "warehouse" / "test.db")
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """A fresh warehouse, opened (and so created) on each backend."""
    with Warehouse.open(warehouse_url) as store:
        yield store
