"""Where the warehouse lives, how to connect to it, and the one transaction context manager.

A plain path is an SQLite file; anything with ``://`` is an SQLAlchemy URL (PostgreSQL through
psycopg for many machines). SQLite is set up for several processes on one machine: WAL (readers
never block the writer), a long busy timeout, and ``BEGIN IMMEDIATE`` for every write, so two
writers queue on the lock instead of deadlocking on a read-to-write upgrade, which SQLite would
report at once as "database is locked" without waiting.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from metasearch._locations import shipped_folder, writable_folder
from metasearch.errors import WarehouseError, redact, redact_url

__all__ = ["ENV_VAR", "default_path", "engine_for", "resolve_url", "shipped_archive",
           "transaction", "unpack_shipped"]

ENV_VAR = "METASEARCH_WAREHOUSE"
BUSY_TIMEOUT_S = 120.0
_WRITE = "metasearch_write"
_MIGRATION_LOCK = 0x6D657461  # any constant shared by every process: "meta"


def default_path() -> Path:
    """The warehouse used when none is named (no ``-w``, no ``$METASEARCH_WAREHOUSE``).

    The checkout's ``warehouse/warehouse.db`` in a clone, else ``warehouse.db`` in the user data
    folder: an installed metasearch never writes into site-packages. On first use it is a copy
    of the shipped snapshot (:func:`unpack_shipped`), so the shipped history is there for
    meta-training and MetaSampler, in the same file as the trials the user records since.
    """
    return writable_folder() / "warehouse.db"


def shipped_archive() -> Path:
    """The shipped warehouse snapshot, xz-compressed; read-only data."""
    return shipped_folder("warehouse") / "warehouse.db.xz"


def unpack_shipped(path: Path, archive: Path | None = None) -> None:
    """Create ``path`` from ``archive`` (default: ``path.xz``, how a clone ships it) when
    ``path`` is missing.

    The repository keeps the default warehouse xz-compressed (a third of its size); the first
    use unpacks it at ``path``, through a temporary file in ``path``'s folder renamed into place,
    so processes starting together never see half a file; only ``path``'s folder is written,
    never the archive's (for a wheel that is site-packages). An existing file is never touched:
    it may hold trials recorded since.
    """
    archive = archive or path.with_name(path.name + ".xz")
    if path.exists() or not archive.exists():
        return
    import lzma
    import shutil
    import stat
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=".unpack-")
    except OSError as exc:
        raise WarehouseError(f"cannot create the warehouse {path}: {exc}") from exc
    os.close(handle)
    partial = Path(name)
    try:
        with lzma.open(archive) as packed, partial.open("wb") as out:
            shutil.copyfileobj(packed, out)
        # mkstemp makes it private; the archive's mode, but always writable by its owner (an
        # installed archive may be read-only, the user's warehouse must not be)
        partial.chmod((archive.stat().st_mode & 0o777) | stat.S_IWUSR)
        partial.replace(path)
    except (OSError, lzma.LZMAError) as exc:
        partial.unlink(missing_ok=True)
        raise WarehouseError(f"cannot unpack the shipped warehouse {archive}: {exc}") from exc


def resolve_url(path_or_url: str | os.PathLike[str] | None) -> URL:
    """The SQLAlchemy URL of a warehouse given as a path, a URL, or None.

    None means ``$METASEARCH_WAREHOUSE``, else :func:`default_path`. A path (existing or not)
    is an SQLite file; its parent folders are created. ``postgresql://`` and ``postgres://``
    URLs get the psycopg (3) driver, the one metasearch installs.
    """
    if path_or_url is None or str(path_or_url) == "":
        path_or_url = os.environ.get(ENV_VAR) or default_path()
    target = os.fspath(path_or_url)
    if "://" not in target:
        path = Path(target).expanduser().resolve()
        if path.is_dir():
            raise WarehouseError(f"warehouse path {str(path)!r} is a folder, not a file")
        if path == default_path().resolve():
            unpack_shipped(path, shipped_archive())
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=str(path))
    try:
        url = make_url(target)
    except (ArgumentError, ValueError) as exc:
        raise WarehouseError(f"not a database URL or path: {redact_url(target)!r} "
                             f"({' '.join(str(exc).split())})") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return url


def engine_for(url: URL) -> Engine:
    """An engine for ``url`` with the per-backend settings (see the module docstring)."""
    try:
        if url.get_backend_name() == "sqlite":
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
            _set_up_sqlite(engine)
            return engine
        # A server that does not answer is an error after 10 s, not a hang.
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (SQLAlchemyError, ImportError, ValueError, TypeError) as exc:
        shown = url.render_as_string(hide_password=True)
        raise WarehouseError(f"cannot use warehouse {shown}: {exc}") from exc


def _set_up_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver's own BEGIN off: we send ours
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a crash loses no commit
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def transaction(engine: Engine, *, write: bool, where: str) -> Iterator[Connection]:
    """A connection in one transaction: committed on success, rolled back on any error.

    Database errors are re-raised as :class:`WarehouseError` naming the warehouse; other
    exceptions (a malformed table found mid-write, say) propagate unchanged after the rollback.
    """
    try:
        with engine.connect() as conn:
            if write:
                conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        text = " ".join(str(reason).split())  # one line, whatever the driver wrote
        raise WarehouseError(
            f"warehouse {redact_url(where)}: {type(reason).__name__}: {redact(text)}") from exc


def lock_for_migration(conn: Connection) -> None:
    """Serialize schema creation and migration among processes (SQLite: the write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
