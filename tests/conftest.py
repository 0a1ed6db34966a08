"""Suite-wide fixtures: no test ever writes into the checkout's shipped warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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
