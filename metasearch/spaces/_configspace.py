"""A search space read from ConfigSpace's JSON format, conditions and forbiddens included.

ConfigSpace (Lindauer et al., 2019) is how SMAC, HpBandSter, YAHPO Gym and HPOBench publish
their spaces. Its JSON (``json_format_version`` 0.2 and 0.4, and ConfigSpace 1.x) lists
``hyperparameters`` (``uniform_float``, ``uniform_int``, ``categorical``, ``ordinal``,
``constant``), ``conditions`` and ``forbiddens``, which map to metasearch's clauses
(:mod:`metasearch.spaces._conditions`):

- ``EQ`` and ``IN`` -> :class:`Condition`; ``NEQ`` -> a :class:`Condition` over the parent's
  other choices when it has choices, else a :class:`Comparison` ``!=``; ``GT`` and ``LT`` ->
  a :class:`Comparison` on a number, or on an ordinal the :class:`Condition` over the values
  after (before) the given one in its sequence; ``AND`` and ``OR`` (nested to any depth) ->
  :class:`AllOf` and :class:`AnyOf`.
- forbidden ``EQUALS`` and ``IN`` -> :class:`Condition` on the named parameter; relations
  between two parameters -> :class:`Relation` (``==``, ``<``, ``>``), as ConfigSpace 1.x writes
  them (``RELATION_EQ``, ``RELATION_LT``, ``RELATION_GT``, with ``left`` and ``right``) and as
  0.x wrote them (``RELATION`` with ``lambda`` ``EQUALS``, ``LESS``, ``GREATER``; 1.x's reader
  also takes ``EQ``, ``LT``, ``GT`` there); ``AND`` -> :class:`AllOf` of any of those.

The ConfigSpace package itself is not used: the format is plain JSON, a few dozen lines read
it, and YAHPO Gym's data (written by ConfigSpace 0.4) and newer files read alike without
another dependency and its version pins.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from metasearch.errors import SpaceError
from metasearch.spaces._conditions import AllOf, AnyOf, Clause, Comparison, Condition, Relation
from metasearch.spaces._params import Categorical, Float, Hyperparameter, Int
from metasearch.spaces._space import SearchSpace

__all__ = ["read_configspace_json", "space_from_configspace"]


def read_configspace_json(path: str | Path, *, exclude: Collection[str] = ()) -> SearchSpace:
    """The space in the ConfigSpace JSON file ``path``, less the parameters in ``exclude``.

    Raises:
        SpaceError: the file is unreadable, or holds something metasearch cannot search.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SpaceError(f"{path}: cannot be read as a ConfigSpace JSON: {exc}") from exc
    try:
        return space_from_configspace(data, exclude=exclude)
    except SpaceError as exc:
        raise SpaceError(f"{path}: {exc}") from exc


def space_from_configspace(data: Mapping[str, Any], *, exclude: Collection[str] = ()
                           ) -> SearchSpace:
    """The space of a parsed ConfigSpace JSON document.

    Parameters keep ConfigSpace's alphabetical order, except that a conditional one comes after
    its parents. ``exclude`` drops parameters a benchmark fixes itself (its instance, its
    fidelities); a condition or forbidden clause that reads a dropped parameter is refused.

    Raises:
        SpaceError: a malformed document, an unsupported type, condition or forbidden clause.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("hyperparameters"), list):
        raise SpaceError("not a ConfigSpace JSON: no list of 'hyperparameters'")
    specs = {str(spec.get("name")): spec for spec in data["hyperparameters"]
             if isinstance(spec, Mapping)}
    conditions = _conditions(data.get("conditions") or [], specs)
    kept = sorted(set(specs) - set(exclude))
    params: dict[str, Hyperparameter] = {}
    for name in kept:
        condition = conditions.get(name)
        if condition is not None:
            _check_reads(f"{name}'s condition", condition, specs, exclude)
        params[name] = _param(specs[name], condition)
    forbidden = tuple(_forbidden(f) for f in data.get("forbiddens") or [])
    for clause in forbidden:
        _check_reads(f"forbidden clause {clause.describe()!r}", clause, specs, exclude)
    return SearchSpace(params=_parents_first(params), forbidden=forbidden)


def _check_reads(what: str, clause: Clause, specs: Mapping[str, Any],
                 exclude: Collection[str]) -> None:
    for parent in sorted(clause.parents):
        if parent not in specs:
            raise SpaceError(f"{what} reads unknown parameter {parent!r}")
        if parent in exclude:
            raise SpaceError(f"{what} reads {parent!r}, which is excluded (the benchmark "
                             "fixes it)")


def _param(spec: Mapping[str, Any], condition: Clause | None) -> Hyperparameter:
    kind, name = spec.get("type"), str(spec.get("name"))
    try:
        if kind == "uniform_float":
            return Float(name, float(spec["lower"]), float(spec["upper"]),
                         log=bool(spec.get("log", False)), condition=condition)
        if kind == "uniform_int":
            return Int(name, int(spec["lower"]), int(spec["upper"]),
                       log=bool(spec.get("log", False)), condition=condition)
        if kind in ("categorical", "ordinal", "constant"):
            return Categorical(name, _choices(spec), condition=condition)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpaceError(f"malformed {kind} hyperparameter {name!r}: {exc!r}") from exc
    raise SpaceError(f"hyperparameter {name!r} of type {kind!r} is not supported (expected "
                     "uniform_float, uniform_int, categorical, ordinal or constant)")


def _choices(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """A categorical's choices, an ordinal's sequence (in order), a constant's one value."""
    kind = spec.get("type")
    if kind == "categorical":
        return tuple(spec["choices"])
    if kind == "ordinal":
        return tuple(spec["sequence"])
    return (spec["value"],)


# -- conditions ---------------------------------------------------------------------------------


def _conditions(clauses: list[Any], specs: Mapping[str, Any]) -> dict[str, Clause]:
    """Each conditioned child's clause (one entry per child: a conjunction for several)."""
    out: dict[str, Clause] = {}
    for clause in clauses:
        if not isinstance(clause, Mapping) or "child" not in clause:
            raise SpaceError(f"condition {clause!r} names no child")
        child = str(clause["child"])
        if child in out:
            raise SpaceError(f"{child}: two separate conditions (ConfigSpace itself refuses "
                             "them as ambiguous; join them in an AND or OR conjunction)")
        out[child] = _condition(clause, specs)
    return out


def _condition(clause: Mapping[str, Any], specs: Mapping[str, Any]) -> Clause:
    """One ConfigSpace condition (possibly a nested conjunction) as a clause."""
    if not isinstance(clause, Mapping):
        raise SpaceError(f"condition {clause!r} is not a JSON object")
    kind = clause.get("type")
    if kind not in ("EQ", "NEQ", "IN", "GT", "LT", "AND", "OR"):
        raise SpaceError(f"condition {dict(clause)!r} is not supported (expected EQ, NEQ, IN, "
                         "GT, LT, AND or OR)")
    try:
        if kind in ("AND", "OR"):
            parts = tuple(_condition(c, specs) for c in clause["conditions"])
            if len(parts) == 1:
                return parts[0]
            return AllOf(parts) if kind == "AND" else AnyOf(parts)
        parent = str(clause["parent"])
        if kind == "EQ":
            return Condition(parent, (clause["value"],))
        if kind == "IN":
            return Condition(parent, tuple(clause["values"]))
        return _comparison(parent, str(kind), clause["value"], specs.get(parent, {}))
    except (KeyError, TypeError) as exc:
        raise SpaceError(f"malformed condition {dict(clause)!r}: {exc!r}") from exc


def _comparison(parent: str, kind: str, value: Any, spec: Mapping[str, Any]) -> Clause:
    """NEQ, GT or LT: over the parent's choices where it has them, else on its numbers."""
    if spec.get("type") in ("categorical", "ordinal", "constant"):
        choices = _choices(spec)
        if kind == "NEQ":
            return Condition(parent, tuple(c for c in choices if c != value))
        if spec.get("type") != "ordinal" or value not in choices:
            raise SpaceError(f"{kind} on {parent!r}: an order needs an ordinal parent and one "
                             f"of its values, got {value!r}")
        at = choices.index(value)
        return Condition(parent, choices[at + 1:] if kind == "GT" else choices[:at])
    op = {"NEQ": "!=", "GT": ">", "LT": "<"}[kind]
    return Comparison(parent, op, value)


# -- forbidden clauses --------------------------------------------------------------------------


_RELATION_OPS = {"RELATION_EQ": "==", "RELATION_LT": "<", "RELATION_GT": ">"}
_RELATION_LAMBDAS = {"EQUALS": "==", "LESS": "<", "GREATER": ">", "EQ": "==", "LT": "<",
                     "GT": ">"}


def _forbidden(clause: Any) -> Clause:
    """One ConfigSpace forbidden clause as the clause it forbids."""
    kind = clause.get("type") if isinstance(clause, Mapping) else None
    try:
        if kind == "AND":
            parts = tuple(_forbidden(c) for c in clause["clauses"])
            return parts[0] if len(parts) == 1 else AllOf(parts)
        if kind == "EQUALS":
            return Condition(str(clause["name"]), (clause["value"],))
        if kind == "IN":
            return Condition(str(clause["name"]), tuple(clause["values"]))
        op = _RELATION_OPS.get(str(kind)) if kind != "RELATION" else \
            _RELATION_LAMBDAS.get(str(clause.get("lambda")))
        if op is not None:
            return Relation(str(clause["left"]), op, str(clause["right"]))
    except (KeyError, TypeError) as exc:
        raise SpaceError(f"malformed forbidden clause {clause!r}: {exc!r}") from exc
    raise SpaceError(f"forbidden clause {clause!r} is not supported (expected EQUALS, IN, "
                     "RELATION_EQ, RELATION_LT, RELATION_GT, RELATION with lambda EQUALS, LESS "
                     "or GREATER, or an AND of them)")


def _parents_first(params: dict[str, Hyperparameter]) -> tuple[Hyperparameter, ...]:
    """Alphabetical, with every conditional parameter moved after its parents (stable)."""
    ordered: list[Hyperparameter] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(param: Hyperparameter) -> None:
        if param.name in placed:
            return
        if param.name in visiting:
            raise SpaceError(f"{param.name}: its conditions form a cycle")
        visiting.add(param.name)
        for parent in sorted(param.condition.parents if param.condition is not None else ()):
            place(params[parent])
        ordered.append(param)
        placed.add(param.name)

    for param in params.values():
        place(param)
    return tuple(ordered)
