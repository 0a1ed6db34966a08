"""The one registry of task families: files in ``task_families/`` folders, and entry points.

A family file is a plain Python module that defines a :class:`TaskFamily` subclass and decorates
it with :func:`register_family`. Files are looked for, in this order, in every folder of the
``METASEARCH_FAMILY_PATH`` environment variable (``os.pathsep``-separated), in
``./task_families`` of the working directory, in ``task_families/`` of the user data folder
(where an installed metasearch keeps what the user adds), and in the shipped ``task_families/``
(the checkout's, or the copy inside an installed package); packages can also expose families
through the ``metasearch.task_families`` entry-point group (each entry point loads a module or
a family class).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypeVar

from metasearch._locations import shipped_folder, user_data_folder
from metasearch.errors import UnknownFamilyError
from metasearch.families._base import TaskFamily
from metasearch.families._stored import stored_family
from metasearch.records import RecordReader

__all__ = [
    "family_folders",
    "family_names",
    "get_family",
    "load_errors",
    "register_family",
    "resolve_family",
]

F = TypeVar("F", bound=type[TaskFamily])

_FAMILIES: dict[str, Callable[[], TaskFamily]] = {}
_INSTANCES: dict[str, TaskFamily] = {}
_LOAD_ERRORS: dict[str, str] = {}
_DISCOVERED = False
ENTRY_POINT_GROUP = "metasearch.task_families"
FAMILY_PATH_ENV = "METASEARCH_FAMILY_PATH"


def register_family(cls: F) -> F:
    """Class decorator: make a :class:`TaskFamily` subclass known under its ``name``.

    Registering the same name again from another class is refused, so two files cannot
    silently shadow one another.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__qualname__} needs a non-empty class attribute `name`")
    known = _FAMILIES.get(name)
    if known is not None and known is not cls:
        existing = getattr(known, "__module__", "?")
        warnings.warn(
            f"task family {name!r} from {cls.__module__} ignored: already defined in {existing}",
            stacklevel=2,
        )
        return cls
    _FAMILIES[name] = cls
    return cls


def family_folders(*, existing: bool = True) -> list[Path]:
    """The folders searched for family files, first match first, duplicates removed.

    Args:
        existing: only the folders that exist (those searched); False lists every place
            looked at, for telling a user where a family file may go.
    """
    candidates = [Path(p) for p in os.environ.get(FAMILY_PATH_ENV, "").split(os.pathsep)]
    candidates.append(Path.cwd() / "task_families")
    candidates.append(user_data_folder() / "task_families")
    candidates.append(shipped_folder("task_families"))
    folders: list[Path] = []
    for folder in candidates:
        if str(folder) in ("", ".") or (existing and not folder.is_dir()):
            continue
        if folder.resolve() not in folders:
            folders.append(folder.resolve())
    return folders


def _load_file(path: Path) -> None:
    module_name = f"metasearch_task_families.{path.stem}"
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken user file must not hide the other families
        del sys.modules[module_name]
        _LOAD_ERRORS[str(path)] = f"{type(exc).__name__}: {exc}"


def _load_entry_points() -> None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
        except Exception as exc:
            _LOAD_ERRORS[f"entry point {point.name}"] = f"{type(exc).__name__}: {exc}"
            continue
        if isinstance(loaded, type) and issubclass(loaded, TaskFamily):
            register_family(loaded)


def discover(*, force: bool = False) -> None:
    """Load every family file and entry point once (again with ``force``)."""
    global _DISCOVERED
    if _DISCOVERED and not force:
        return
    _DISCOVERED = True
    for folder in family_folders():
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                _load_file(path)
    _load_entry_points()


def family_names() -> list[str]:
    """The names of every registered family, sorted."""
    discover()
    return sorted(_FAMILIES)


def load_errors() -> dict[str, str]:
    """Family files or entry points that failed to load, with the error each raised."""
    discover()
    return dict(_LOAD_ERRORS)


def get_family(name: str) -> TaskFamily:
    """The family called ``name`` (one shared instance per process).

    Raises:
        UnknownFamilyError: naming ``name``, the known families and any file that failed to load.
    """
    discover()
    if name not in _FAMILIES:
        raise UnknownFamilyError(f"unknown family {name!r}: expected one of "
                                 f"{', '.join(sorted(_FAMILIES))}{_load_hint()}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _FAMILIES[name]()
    return _INSTANCES[name]


def _load_hint() -> str:
    """Why a family may be missing: files that failed to load, benchmark data not given."""
    hint = "".join(f"; {where} failed to load ({why})" for where, why in _LOAD_ERRORS.items())
    if not os.environ.get("METASEARCH_BENCHMARKS"):
        hint += ("; families found in benchmark data (yahpo-SCENARIO) appear with "
                 "--data PATH or $METASEARCH_BENCHMARKS")
    return hint


def resolve_family(name: str, store: RecordReader | None = None) -> TaskFamily:
    """The family ``name``: the registered one, else the one stored in ``store``.

    A family that exists only in the warehouse (ingested Optuna studies or a table) is a
    family like any other, its space and tasks the warehouse's record of it; a registered
    family of the same name adds an objective (it can run new trials), nothing else.
    MetaSampler/MetaPruner.from_warehouse, suggest and compare resolve names through it.

    Raises:
        UnknownFamilyError: naming ``name``, the registered families and, with ``store``,
            the stored ones.
    """
    discover()
    if name in _FAMILIES or store is None:
        return get_family(name)
    if store.has_family(name):
        return stored_family(store.family(name), store.tasks(name))
    stored = sorted(f.name for f in store.families())
    raise UnknownFamilyError(
        f"unknown family {name!r}: registered are {', '.join(sorted(_FAMILIES))}; stored in "
        f"{store.url} are {', '.join(stored) or 'none'}{_load_hint()}")
