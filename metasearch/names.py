"""Names of families and tasks: one rule, checked wherever a name enters metasearch.

A name is 1 to 128 characters: an ASCII letter or digit, then letters, digits, ``.``, ``_``
and ``-``, never ``..``. That is every family and task name metasearch ships or imports
(``tabular-mlp``, ``yahpo-lcbench``, ``FixedTextRNNClassification_imdb_patch32_GRU128_bs128``,
OpenML ids such as ``189873``), and it makes a name safe as a file or folder name on every
system: no separator, no absolute path, no ``..``, no leading dot (hidden files, ``.`` itself),
nothing a shell or URL must quote. A family name becomes a path component (the default model
folder, the default export file) only through :func:`name_path`, which checks it first.
"""

from __future__ import annotations

import re
from pathlib import Path

from metasearch.errors import InvalidNameError

__all__ = ["MAX_NAME_LENGTH", "NAME_RULE", "check_name", "name_path"]

MAX_NAME_LENGTH = 128
NAME_RULE = ("1 to 128 characters: an ASCII letter or digit, then letters, digits, '.', '_' "
             "or '-', never '..'")
_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(value: object, kind: str = "family") -> str:
    """``value`` if it is a valid name, else a :class:`~metasearch.errors.InvalidNameError`.

    Args:
        value: the name as given (anything: a table cell may hold a number or bytes).
        kind: what it names (``family``, ``task``), for the message.

    Raises:
        InvalidNameError: naming the value and the rule.
    """
    if not isinstance(value, str):
        raise InvalidNameError(f"{kind} name {value!r} is not text; a name is {NAME_RULE}")
    if not _PATTERN.fullmatch(value) or ".." in value:
        shown = value if len(value) <= 60 else f"{value[:40]}... ({len(value)} characters)"
        raise InvalidNameError(f"{kind} name {shown!r} is not a valid name: a name is {NAME_RULE}")
    return value


def name_path(folder: Path, name: str, suffix: str = "", kind: str = "family") -> Path:
    """``folder / (name + suffix)``, with ``name`` checked, so it stays inside ``folder``."""
    return folder / f"{check_name(name, kind)}{suffix}"
