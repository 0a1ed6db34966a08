"""Names of families and tasks: two documented rules, checked wherever a name enters metasearch.

A **family** name (and anything else that may become a file or folder name) is 1 to 128
characters: an ASCII letter or digit, then letters, digits, ``.``, ``_`` and ``-``, never
``..``. Every family metasearch ships fits it (``tabular-mlp``, ``yahpo-lcbench``, ``cell-cnn``),
and it is safe as a file name on every system: no separator, no absolute path, no ``..``, no
leading dot, nothing a shell or URL must quote. A family name becomes a path component (the
default model folder, the default export file) only through :func:`name_path`, which checks it.

A **task** name is 1 to 128 printable characters with no leading or trailing space. Tasks never
become paths, and they are often an Optuna study's name (``ingest-optuna`` files a study under
its name; ``metasearch run`` names its studies ``family/task/sampler``), so the rule keeps out
only what breaks tables, logs and the warehouse's columns: control characters (a newline would
split a CSV row or a message), invisible padding, the empty name and over-long names. Every
shipped task (``synthetic-00``, OpenML ids like ``189873``, TaskSet's long names) fits both.
"""

from __future__ import annotations

import re
from pathlib import Path

from metasearch.errors import InvalidNameError

__all__ = ["FAMILY_RULE", "MAX_NAME_LENGTH", "TASK_RULE", "check_name", "name_path"]

MAX_NAME_LENGTH = 128
FAMILY_RULE = ("1 to 128 characters: an ASCII letter or digit, then letters, digits, '.', '_' "
               "or '-', never '..'")
TASK_RULE = "1 to 128 printable characters, without leading or trailing spaces"
_PATH_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _shown(value: str) -> str:
    return value if len(value) <= 60 else f"{value[:40]}... ({len(value)} characters)"


def check_name(value: object, kind: str = "family") -> str:
    """``value`` if it is a valid ``kind`` name (``task``: the task rule; else the path-safe
    family rule), else :class:`~metasearch.errors.InvalidNameError` naming value and rule."""
    rule = TASK_RULE if kind == "task" else FAMILY_RULE
    if not isinstance(value, str):
        raise InvalidNameError(f"{kind} name {value!r} is not text; a {kind} name is {rule}")
    if kind == "task":
        valid = (0 < len(value) <= MAX_NAME_LENGTH and value.isprintable()
                 and value == value.strip())
    else:
        valid = bool(_PATH_SAFE.fullmatch(value)) and ".." not in value
    if not valid:
        raise InvalidNameError(f"{kind} name {_shown(value)!r} is not a valid name: a {kind} "
                               f"name is {rule}")
    return value


def name_path(folder: Path, name: str, suffix: str = "", kind: str = "family") -> Path:
    """``folder / (name + suffix)``, with ``name`` held to the path-safe rule whatever its
    ``kind`` (named in the message), so the path stays inside ``folder``."""
    if kind == "family":
        check_name(name, "family")
    else:
        _path_safe(name, kind)
    return folder / f"{name}{suffix}"


def _path_safe(name: str, kind: str) -> None:
    if not (isinstance(name, str) and _PATH_SAFE.fullmatch(name) and ".." not in name):
        raise InvalidNameError(f"{kind} name {_shown(str(name))!r} cannot be a file name: it "
                               f"must be {FAMILY_RULE}")
