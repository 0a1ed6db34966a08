"""Suite-wide fixtures: no test ever writes into the checkout's shipped warehouse, and
PostgreSQL schemas of their own for the tests that talk to a real server.

``warehouse_url`` and ``warehouse`` run a test on SQLite and on PostgreSQL: each test then
gets a schema of its own, dropped afterwards, and reaches it through ``search_path`` in the URL,
so subprocesses connect to the same schema (the ``postgres_schema`` fixture). The warehouse's
tests and the build's (``tests/runs``) use them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from metasearch.warehouse import Warehouse

POSTGRES_ENV = "METASEARCH_TEST_POSTGRES_URL"


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """Small matrices gain nothing from BLAS threads, and lose much when jobs share 2 cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(autouse=True)
def _private_warehouse(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the default warehouse at a fresh temporary file for every test."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    monkeypatch.setenv("METASEARCH_WAREHOUSE", str(path))
    yield path


@pytest.fixture(autouse=True)
def _benchmarks_env_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--data`` sets METASEARCH_BENCHMARKS for the rest of a CLI process; in the test process
    that would leak into later tests, so every test gets the variable back as it found it."""
    name = "METASEARCH_BENCHMARKS"
    monkeypatch.setenv(name, os.environ.get(name, ""))  # recorded: restored at teardown
    if not os.environ[name]:
        monkeypatch.delenv(name)


@pytest.fixture
def postgres_schema() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL schemas, each as a URL that selects it; all dropped after.

    Skips the test when ``METASEARCH_TEST_POSTGRES_URL`` is not set (``.ci/postgres.sh``
    starts a server and prints it). The schema is chosen through ``search_path`` in the URL,
    so subprocesses given the URL connect to the same schema.
    """
    import sqlalchemy

    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (`bash .ci/postgres.sh` prints it)")
    admin = sqlalchemy.create_engine(base)
    made: list[str] = []

    def make() -> str:
        schema = f"test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        made.append(schema)
        url = sqlalchemy.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.begin() as conn:
            for schema in made:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty warehouse location on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "warehouse" / "test.db")
    make: Callable[[], str] = request.getfixturevalue("postgres_schema")
    return make()


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """A fresh warehouse, opened (and so created) on each backend."""
    with Warehouse.open(warehouse_url) as store:
        yield store
