"""One parametrized fixture runs every warehouse test on SQLite and on PostgreSQL.

PostgreSQL runs when ``METASEARCH_TEST_POSTGRES_URL`` names a database (``.ci/postgres.sh``
starts one and prints it); each test then gets a schema of its own, dropped afterwards, and
reaches it through ``search_path`` in the URL, so subprocesses connect to the same schema
(the ``postgres_schema`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from metasearch.warehouse import Warehouse


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
