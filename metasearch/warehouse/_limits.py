"""What a write must fit before it reaches the database: names, integer ranges, text lengths.

A value the storage cannot hold is refused here, naming the trial, instead of being wrapped
around by a driver (SQLite turns 2**63 into an error, numpy casts turn 1e23 into -2**63) or
rejected by PostgreSQL with a message that names no row. The limits come from the schema's
column types: ``Integer`` is 64-bit on SQLite and 32-bit on PostgreSQL; ``String(n)`` holds
``n`` characters (SQLite does not enforce it, but a warehouse must stay movable to PostgreSQL,
so both backends are held to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import Column, Integer, String

from metasearch.errors import WarehouseError
from metasearch.names import check_name
from metasearch.records import FamilySpec, RunSpec, TrialData
from metasearch.warehouse._schema import curves, families, runs, trials

__all__ = ["check_write", "integer_range"]

_BITS = {"sqlite": 64, "postgresql": 32}


def integer_range(dialect: str) -> tuple[int, int]:
    """The smallest and largest value an ``Integer`` column holds on ``dialect``."""
    bits = _BITS.get(dialect, 32)
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _check_int(value: object, column: Column[Integer], dialect: str, whose: str) -> None:
    if value is None:
        return
    low, high = integer_range(dialect)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not (
            low <= int(value) <= high):
        raise WarehouseError(f"{whose}: {column.name} {value!r} does not fit the warehouse's "
                             f"{column.table.name}.{column.name} ({dialect} integer, "
                             f"{low} to {high})")


def _check_text(value: object, column: Column[String], whose: str) -> None:
    length = getattr(column.type, "length", None)
    if value is not None and length is not None and len(str(value)) > length:
        raise WarehouseError(f"{whose}: {column.name} is {len(str(value))} characters; the "
                             f"warehouse holds at most {length} "
                             f"({column.table.name}.{column.name})")


def check_write(family: FamilySpec, run: RunSpec, batch: Sequence[TrialData],
                meta_features: Mapping[str, object], dialect: str) -> None:
    """Refuse a write the storage cannot hold exactly, before anything is sent to it.

    Raises:
        InvalidNameError: a family or task name outside the name rule.
        WarehouseError: an integer out of its column's range, or a text too long for it.
    """
    check_name(family.name, "family")
    whose = f"family {family.name!r}"
    _check_text(family.metric, families.c.metric, whose)
    _check_int(family.max_budget, families.c.max_budget, dialect, whose)
    whose = f"source {run.source_key[:80]!r}"
    _check_text(run.source_key, runs.c.source_key, "source key")
    _check_text(run.study, runs.c.study, whose)
    _check_text(run.device, runs.c.device, whose)
    _check_int(run.seed, runs.c.seed, dialect, whose)
    for task in meta_features:
        check_name(task, "task")
    for trial in batch:
        _check_trial(trial, dialect)


def _check_trial(trial: TrialData, dialect: str) -> None:
    check_name(trial.task, "task")
    whose = f"task {trial.task!r}, trial {trial.number!r}"
    _check_int(trial.number, trials.c.number, dialect, whose)
    _check_int(trial.budget, trials.c.budget, dialect, whose)
    _check_int(trial.seed, trials.c.seed, dialect, whose)
    _check_text(trial.device, trials.c.device, whose)
    for step, _, _ in trial.points():
        _check_int(step, curves.c.step, dialect, whose)
