"""Where metasearch finds what it ships, and where it keeps what it writes.

What ships (the built-in task families, the warehouse snapshot and its meta-models) lives in
the repository's top-level ``task_families/`` and ``warehouse/`` folders. A wheel carries the
same folders inside the package, as ``metasearch/_shipped/task_families`` and
``metasearch/_shipped/warehouse`` (``setup.py`` maps them there), so one rule finds them from
both: inside the package when the build put them there, else beside it (a clone, or an
editable install, which runs the clone's files).

Where it writes follows from the same answer. A clone keeps today's behaviour: its default
warehouse is ``warehouse/warehouse.db`` in the repository, next to the models it trains. An
installed metasearch never writes into its own folder (site-packages is shared by every user of
the environment, may be read-only, and is replaced by the next upgrade): its default warehouse,
the models meta-training writes beside it, and the user's own family files live in the user
data folder of the platform (``~/.local/share/metasearch`` on Linux, via ``platformdirs``).
This is the bottom layer: it imports nothing of metasearch.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

__all__ = ["SHIPPED_IN_PACKAGE", "from_checkout", "shipped_folder", "user_data_folder",
           "writable_folder"]

SHIPPED_IN_PACKAGE = "_shipped"
"""The folder inside the installed package that holds the shipped data."""

Shipped = Literal["task_families", "warehouse"]


def _package_folder() -> Path:
    """The folder of the ``metasearch`` package; it must be plain files (SQLite needs them)."""
    root = files(__package__ or "metasearch")
    if not isinstance(root, Path):
        raise RuntimeError(f"metasearch must be installed as plain files, not from {root!r}")
    return root.resolve()


def from_checkout() -> bool:
    """True when metasearch runs from a source tree (a clone, an editable install)."""
    return not (_package_folder() / SHIPPED_IN_PACKAGE).is_dir()


def shipped_folder(name: Shipped) -> Path:
    """The folder of shipped ``name`` data: inside the wheel's package, else in the checkout.

    The folder is read-only data for an installed metasearch; nothing may be written into it.
    """
    package = _package_folder()
    if from_checkout():
        return package.parent / name
    return package / SHIPPED_IN_PACKAGE / name


def user_data_folder() -> Path:
    """The user's metasearch data folder, by the platform's convention (not created here)."""
    from platformdirs import user_data_path

    return user_data_path("metasearch", appauthor=False)


def writable_folder() -> Path:
    """Where the default warehouse and the models trained from it live.

    The checkout's ``warehouse/`` folder from a clone, the user data folder when installed.
    """
    return shipped_folder("warehouse") if from_checkout() else user_data_folder()
