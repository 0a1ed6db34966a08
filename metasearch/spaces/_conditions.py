"""When a hyperparameter is active, and which configurations a space forbids: clauses.

A clause is a predicate on a configuration (a dict of the active parameters' values). The same
clauses serve two purposes, as in ConfigSpace (Lindauer et al., 2019), whose spaces SMAC,
YAHPO Gym and HPOBench publish:

- a hyperparameter's ``condition``: it is active exactly when the clause holds on the
  parameters before it (``xgboost.eta`` when ``learner_id == "xgboost"`` and ``booster`` is
  ``dart`` or ``gbtree``: an :class:`AllOf` of two :class:`Condition`);
- a space's ``forbidden`` clauses: a configuration on which one holds is never proposed
  (``kernel == "linear"`` and ``degree`` in ``{4, 5}``: an :class:`AllOf`; ``min_width >
  max_width``: a :class:`Relation` between two parameters).

A clause that reads a parameter absent from the configuration (inactive) does not hold, as
in ConfigSpace: a child of an inactive parent is inactive, and a forbidden clause over an
inactive parameter forbids nothing. :class:`AnyOf` holds when any of its clauses does, so an
OR over two parents holds as soon as one active parent satisfies its part.
"""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from metasearch.errors import SpaceError

__all__ = [
    "AllOf", "AnyOf", "Clause", "Comparison", "Condition", "Relation", "clause_from_dict",
    "relations",
]


class Clause(ABC):
    """A predicate on a configuration; subclasses are frozen (hashable) dataclasses."""

    @abstractmethod
    def holds(self, config: Mapping[str, Any]) -> bool:
        """Whether ``config`` satisfies the clause (a missing parameter never does)."""

    @property
    @abstractmethod
    def parents(self) -> frozenset[str]:
        """Every parameter the clause reads (they must come before a conditional child)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, read back by :func:`clause_from_dict`."""

    @abstractmethod
    def describe(self) -> str:
        """The clause as a person reads it, e.g. ``learner in ['svm'] and kernel != 'rbf'``."""


@dataclass(frozen=True)
class Condition(Clause):
    """``parent`` takes one of ``values`` (ConfigSpace's EQ and IN).

    Example: ``Condition("optimizer", ("sgd",))`` on ``momentum``.
    """

    parent: str
    values: tuple[Any, ...]

    def holds(self, config: Mapping[str, Any]) -> bool:
        return self.parent in config and config[self.parent] in self.values

    @property
    def parents(self) -> frozenset[str]:
        return frozenset((self.parent,))

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "values": list(self.values)}

    def describe(self) -> str:
        return f"{self.parent} in {list(self.values)}"


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}


@dataclass(frozen=True)
class Comparison(Clause):
    """``parent`` compared with ``value``: ``!=`` (ConfigSpace's NEQ), ``>`` (GT), ``<`` (LT).

    ``>`` and ``<`` compare numbers; a non-numeric parent value does not satisfy them.
    """

    parent: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise SpaceError(f"comparison {self.op!r} on {self.parent!r} is not one of "
                             f"{list(_OPS)}")
        if self.op != "!=" and not _is_number(self.value):
            raise SpaceError(f"{self.parent} {self.op} {self.value!r}: '>' and '<' need a "
                             "finite number")

    def holds(self, config: Mapping[str, Any]) -> bool:
        if self.parent not in config:
            return False
        value = config[self.parent]
        if self.op != "!=" and not _is_number(value):
            return False
        return bool(_OPS[self.op](value, self.value))

    @property
    def parents(self) -> frozenset[str]:
        return frozenset((self.parent,))

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "op": self.op, "value": self.value}

    def describe(self) -> str:
        return f"{self.parent} {self.op} {self.value!r}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


_RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "<": operator.lt, ">": operator.gt,
}


@dataclass(frozen=True)
class Relation(Clause):
    """Two parameters compared: ``left == right``, ``left < right`` or ``left > right``.

    ConfigSpace's ForbiddenEqualsRelation, ForbiddenLessThanRelation and
    ForbiddenGreaterThanRelation, which compare the two values themselves (an ordinal's value,
    not its position). ``<`` and ``>`` hold on two numbers or on two strings (ConfigSpace's
    comparison of the values); on a number and a string they do not, and
    :class:`~metasearch.spaces.SearchSpace` refuses such a pair of parameters up front.

    Example: ``Relation("min_width", ">", "max_width")`` forbids a lower bound above the upper.
    """

    left: str
    op: str
    right: str

    def __post_init__(self) -> None:
        if self.op not in _RELATIONS:
            raise SpaceError(f"relation {self.op!r} between {self.left!r} and {self.right!r} "
                             f"is not one of {list(_RELATIONS)}")
        if self.left == self.right:
            raise SpaceError(f"relation {self.left} {self.op} {self.right} compares a "
                             "parameter with itself")

    def holds(self, config: Mapping[str, Any]) -> bool:
        if self.left not in config or self.right not in config:
            return False
        left, right = config[self.left], config[self.right]
        if self.op != "==" and not _orderable(left, right):
            return False
        return bool(_RELATIONS[self.op](left, right))

    @property
    def parents(self) -> frozenset[str]:
        return frozenset((self.left, self.right))

    def to_dict(self) -> dict[str, Any]:
        return {"left": self.left, "op": self.op, "right": self.right}

    def describe(self) -> str:
        return f"{self.left} {self.op} {self.right}"


def _orderable(left: Any, right: Any) -> bool:
    """Two numbers, or two strings: what ``<`` and ``>`` compare."""
    return (_is_number(left) and _is_number(right)) \
        or (isinstance(left, str) and isinstance(right, str))


@dataclass(frozen=True)
class _Junction(Clause):
    """What :class:`AllOf` and :class:`AnyOf` share: two or more clauses."""

    clauses: tuple[Clause, ...]

    def __post_init__(self) -> None:
        if len(self.clauses) < 2 or not all(isinstance(c, Clause) for c in self.clauses):
            raise SpaceError(f"{type(self).__name__} needs at least two clauses, got "
                             f"{self.clauses!r}")

    @property
    def parents(self) -> frozenset[str]:
        return frozenset().union(*(c.parents for c in self.clauses))

    def _join(self, word: str) -> str:
        parts = [f"({c.describe()})" if isinstance(c, _Junction) else c.describe()
                 for c in self.clauses]
        return f" {word} ".join(parts)


@dataclass(frozen=True)
class AllOf(_Junction):
    """Every clause holds (ConfigSpace's AND conjunction, and ForbiddenAndConjunction)."""

    def holds(self, config: Mapping[str, Any]) -> bool:
        return all(c.holds(config) for c in self.clauses)

    def to_dict(self) -> dict[str, Any]:
        return {"all": [c.to_dict() for c in self.clauses]}

    def describe(self) -> str:
        return self._join("and")


@dataclass(frozen=True)
class AnyOf(_Junction):
    """At least one clause holds (ConfigSpace's OR conjunction)."""

    def holds(self, config: Mapping[str, Any]) -> bool:
        return any(c.holds(config) for c in self.clauses)

    def to_dict(self) -> dict[str, Any]:
        return {"any": [c.to_dict() for c in self.clauses]}

    def describe(self) -> str:
        return self._join("or")


def clause_from_dict(data: Mapping[str, Any]) -> Clause:
    """Rebuild a clause from :meth:`Clause.to_dict` output.

    Raises:
        SpaceError: ``data`` is none of the five forms.
    """
    try:
        if "left" in data:
            return Relation(str(data["left"]), str(data["op"]), str(data["right"]))
        if "all" in data:
            return AllOf(tuple(clause_from_dict(c) for c in data["all"]))
        if "any" in data:
            return AnyOf(tuple(clause_from_dict(c) for c in data["any"]))
        if "op" in data:
            return Comparison(str(data["parent"]), str(data["op"]), data["value"])
        return Condition(str(data["parent"]), tuple(data["values"]))
    except (KeyError, TypeError, AttributeError) as exc:
        raise SpaceError(f"malformed condition {data!r}: {exc!r}") from exc


def relations(clause: Clause) -> list[Relation]:
    """Every :class:`Relation` inside ``clause`` (itself, or nested in conjunctions)."""
    if isinstance(clause, Relation):
        return [clause]
    if isinstance(clause, _Junction):
        return [r for c in clause.clauses for r in relations(c)]
    return []
