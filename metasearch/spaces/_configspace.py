"""A search space read from ConfigSpace's JSON format, conditions included, without ConfigSpace.

ConfigSpace (Lindauer et al., 2019) is how SMAC, HpBandSter, YAHPO Gym and HPOBench publish
their spaces. Its JSON (``json_format_version`` 0.2 and 0.4, and ConfigSpace 1.x) lists
``hyperparameters`` (``uniform_float``, ``uniform_int``, ``categorical``, ``ordinal``,
``constant``) and ``conditions``. An ``EQ`` or ``IN`` condition maps to one
:class:`~metasearch.spaces.Condition` (the child is active only when its parent takes one of the
values); conjunctions (``AND``/``OR``), comparisons (``NEQ``, ``GT``, ``LT``) and ``forbiddens``
have no counterpart in metasearch's spaces, so they are refused with the clause named rather than
searched as if they were not there. The package itself is not needed: its releases pin numpy
versions this project does not run on, and the format is plain JSON.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from metasearch.errors import SpaceError
from metasearch.spaces._params import Categorical, Condition, Float, Hyperparameter, Int
from metasearch.spaces._space import SearchSpace

__all__ = ["read_configspace_json", "read_space_file", "space_from_configspace"]


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


def read_space_file(path: str | Path) -> SearchSpace:
    """A space given explicitly in a JSON file: ConfigSpace's format (a ``hyperparameters``
    list) or metasearch's own (:meth:`SearchSpace.to_dict`: a ``params`` list), conditions
    included in both.

    Raises:
        SpaceError: the file is unreadable or in neither format.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SpaceError(f"{path}: cannot be read as a JSON space: {exc}") from exc
    if isinstance(data, Mapping) and "hyperparameters" in data:
        return read_configspace_json(path)
    if isinstance(data, Mapping) and "params" in data:
        try:
            return SearchSpace.from_dict(data)
        except SpaceError as exc:
            raise SpaceError(f"{path}: {exc}") from exc
    raise SpaceError(f"{path}: neither a ConfigSpace JSON ('hyperparameters') nor a metasearch "
                     "space ('params', as `metasearch warehouse show --json` prints it)")


def space_from_configspace(data: Mapping[str, Any], *, exclude: Collection[str] = ()
                           ) -> SearchSpace:
    """The space of a parsed ConfigSpace JSON document.

    Parameters keep ConfigSpace's alphabetical order, except that a conditional one comes after
    its parent. ``exclude`` drops parameters a benchmark fixes itself (its instance, its
    fidelities); a condition on a dropped parent is refused.

    Raises:
        SpaceError: a malformed document, an unsupported type or condition, or a forbidden.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("hyperparameters"), list):
        raise SpaceError("not a ConfigSpace JSON: no list of 'hyperparameters'")
    if data.get("forbiddens"):
        raise SpaceError(f"forbidden clauses are not supported: {data['forbiddens']!r}")
    conditions = _conditions(data.get("conditions") or [])
    specs = {str(spec.get("name")): spec for spec in data["hyperparameters"]
             if isinstance(spec, Mapping)}
    params: dict[str, Hyperparameter] = {}
    for name in sorted(set(specs) - set(exclude)):
        condition = conditions.get(name)
        if condition is not None and condition.parent not in specs:
            raise SpaceError(f"{name}: condition on unknown parameter {condition.parent!r}")
        if condition is not None and condition.parent in exclude:
            raise SpaceError(f"{name}: its condition's parent {condition.parent!r} is excluded")
        params[name] = _param(specs[name], condition)
    return SearchSpace(params=_parents_first(params))


def _param(spec: Mapping[str, Any], condition: Condition | None) -> Hyperparameter:
    kind, name = spec.get("type"), str(spec.get("name"))
    try:
        if kind == "uniform_float":
            return Float(name, float(spec["lower"]), float(spec["upper"]),
                         log=bool(spec.get("log", False)), condition=condition)
        if kind == "uniform_int":
            return Int(name, int(spec["lower"]), int(spec["upper"]),
                       log=bool(spec.get("log", False)), condition=condition)
        if kind == "categorical":
            return Categorical(name, tuple(spec["choices"]), condition=condition)
        if kind == "ordinal":
            return Categorical(name, tuple(spec["sequence"]), condition=condition)
        if kind == "constant":
            return Categorical(name, (spec["value"],), condition=condition)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpaceError(f"malformed {kind} hyperparameter {name!r}: {exc!r}") from exc
    raise SpaceError(f"hyperparameter {name!r} of type {kind!r} is not supported (expected "
                     "uniform_float, uniform_int, categorical, ordinal or constant)")


def _conditions(clauses: list[Any]) -> dict[str, Condition]:
    """Each conditioned child's :class:`Condition` (one EQ or IN clause per child)."""
    out: dict[str, Condition] = {}
    for clause in clauses:
        kind = clause.get("type") if isinstance(clause, Mapping) else None
        if kind not in ("EQ", "IN"):
            raise SpaceError(f"condition {clause!r} is not supported: metasearch's conditions "
                             "are one parent taking one of some values (EQ or IN)")
        child = str(clause["child"])
        if child in out:
            raise SpaceError(f"{child}: more than one condition (a conjunction) is not supported")
        values = (clause["value"],) if kind == "EQ" else tuple(clause["values"])
        out[child] = Condition(str(clause["parent"]), values)
    return out


def _parents_first(params: dict[str, Hyperparameter]) -> tuple[Hyperparameter, ...]:
    """Alphabetical, with every conditional parameter moved after its parent (stable)."""
    ordered: list[Hyperparameter] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(param: Hyperparameter) -> None:
        if param.name in placed:
            return
        if param.name in visiting:
            raise SpaceError(f"{param.name}: its conditions form a cycle")
        visiting.add(param.name)
        if param.condition is not None:
            place(params[param.condition.parent])
        ordered.append(param)
        placed.add(param.name)

    for param in params.values():
        place(param)
    return tuple(ordered)
