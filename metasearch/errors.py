"""The exceptions metasearch raises on purpose.

Every error a user can cause (an unknown family, a configuration outside its space, a malformed
table, a corrupt model file) is one of these, with the offending value in its message, so the
CLI can print one line and exit non-zero instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeviceError",
    "MetasearchError",
    "ModelError",
    "SchemaVersionError",
    "SpaceError",
    "TableFormatError",
    "UnknownFamilyError",
    "UnknownTaskError",
    "WarehouseError",
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
