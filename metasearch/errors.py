"""The exceptions metasearch raises on purpose.

Every error a user can cause (an unknown family, a configuration outside its space, a malformed
table, a corrupt model file) is one of these, with the offending value in its message, so the
CLI can print one line and exit non-zero instead of a traceback.
"""

from __future__ import annotations

import re

__all__ = [
    "ConfigError",
    "DeviceError",
    "InvalidNameError",
    "MetasearchError",
    "ModelError",
    "SchemaVersionError",
    "SpaceError",
    "TableFormatError",
    "UnknownFamilyError",
    "UnknownTaskError",
    "WarehouseError",
    "redact",
    "redact_url",
]


class MetasearchError(Exception):
    """Base class of every error metasearch raises on purpose."""


class SpaceError(MetasearchError, ValueError):
    """A configuration, parameter or architecture that is outside its search space."""


ConfigError = SpaceError
"""Alias: a configuration that does not fit its space is a space error."""


class UnknownFamilyError(MetasearchError, LookupError):
    """A task family name that no registry knows."""


class UnknownTaskError(MetasearchError, LookupError):
    """A task id that the family does not have."""


class DeviceError(MetasearchError, ValueError):
    """A device name that is malformed or not present on this machine."""


class WarehouseError(MetasearchError):
    """The warehouse could not be opened, read or written; nothing of the failed write is kept."""


class SchemaVersionError(WarehouseError):
    """A warehouse whose schema is newer than this metasearch knows (or not a warehouse)."""


class TableFormatError(WarehouseError, ValueError):
    """A table to ingest is malformed; the message names the row and the column."""


class ModelError(MetasearchError):
    """A meta-model that is missing, corrupt, too new, or made for another family or space.

    Raised for a model the caller named (``--model DIR``, ``model=``); only the implicit
    default model, when it cannot be had, degrades to a cold start with a warning instead.
    """


class InvalidNameError(MetasearchError, ValueError):
    """A family or task name outside the name rule (see :mod:`metasearch.names`)."""


_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)\S*@")
_KEYWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&;,]+)",
                      re.IGNORECASE)


def redact_url(url: object) -> str:
    """A database URL as text with its password hidden (``***``), whatever it looks like.

    SQLAlchemy renders the URLs it can parse; anything else (a malformed port, an unknown
    scheme, plain text) is masked by pattern, so a URL never reaches a message in clear.
    """
    text = str(url)
    if "://" in text:
        try:
            from sqlalchemy import make_url

            text = make_url(text).render_as_string(hide_password=True)
        except Exception:  # unparsable (a bad port, say): the pattern below masks it
            pass
    return redact(text)  # also when parsed: an unescaped '@' in a password misleads it


def redact(message: str) -> str:
    """``message`` with every ``scheme://user:password@`` and ``password=...`` masked."""
    masked = _USERINFO.sub(lambda m: f"{m.group('head')}***@", message)
    return _KEYWORD.sub(lambda m: f"{m.group('head')}***", masked)
