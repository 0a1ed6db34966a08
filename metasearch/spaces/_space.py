"""A search space: hyperparameters plus cell architectures, and the one encoding of a config.

A *configuration* is a plain dict: each active hyperparameter's value, and each cell's
NAS-Bench-201 string under the cell's name. That is what users write, what the warehouse stores
and what task families evaluate. Optuna sees the *flat* form, where every cell edge is its own
categorical parameter, so that any Optuna sampler can search the space.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from metasearch.errors import SpaceError
from metasearch.spaces._cell import CellSpace
from metasearch.spaces._conditions import Clause, clause_from_dict, relations
from metasearch.spaces._params import Categorical, Hyperparameter, hyperparameter_from_dict

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import optuna

__all__ = ["MAX_REJECTIONS", "SearchSpace"]

MAX_REJECTIONS = 1000
"""Forbidden draws :meth:`SearchSpace.sample` redraws before it gives up on the space."""


@dataclass(frozen=True)
class SearchSpace:
    """Hyperparameters (in order: a conditional one comes after its parents), cells, and
    forbidden clauses.

    Args:
        params: the hyperparameters.
        cells: the cell architectures; each appears in a configuration under its ``name``.
        forbidden: clauses no configuration may satisfy (ConfigSpace's forbiddens). They
            constrain what is drawn and proposed (:meth:`sample` redraws, :meth:`allows`
            tells); :meth:`validate` checks a configuration's values and activity only, so a
            forbidden configuration that was run (and failed) can still be read and stored.
    """

    params: tuple[Hyperparameter, ...] = ()
    cells: tuple[CellSpace, ...] = ()
    forbidden: tuple[Clause, ...] = ()

    def __post_init__(self) -> None:
        seen: list[str] = []
        for param in self.params:
            missing = sorted(param.condition.parents - set(seen)) \
                if param.condition is not None else []
            if missing:
                raise SpaceError(
                    f"{param.name}: its condition's parent(s) {missing} must be hyperparameters "
                    "listed before it"
                )
            seen.append(param.name)
        names = [*seen, *(c.name for c in self.cells)]
        flat = [*seen, *(n for c in self.cells for n in c.param_names)]
        if len(set(names)) != len(names) or len(set(flat)) != len(flat):
            raise SpaceError(f"search space names must be unique, got {sorted(flat)}")
        unknown = sorted({n for c in self.forbidden for n in c.parents} - set(seen))
        if unknown:
            raise SpaceError(f"forbidden clauses read unknown hyperparameter(s) {unknown}")
        self._check_orders()

    def _check_orders(self) -> None:
        """Refuse a ``<`` or ``>`` relation between parameters whose values never compare (a
        number and a string): it could never hold, so the clause would silently do nothing."""
        clauses = [*self.forbidden, *(p.condition for p in self.params if p.condition)]
        for relation in (r for c in clauses for r in relations(c) if r.op != "=="):
            left, right = self.param(relation.left), self.param(relation.right)
            if not _value_kinds(left) & _value_kinds(right):
                raise SpaceError(f"relation {relation.describe()!r} compares values that never "
                                 f"order together ({left.kind} {left.name} and {right.kind} "
                                 f"{right.name}: numbers with numbers, strings with strings)")

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """Every key a complete configuration may hold (computed once: the space is frozen)."""
        return (*(p.name for p in self.params), *(c.name for c in self.cells))

    @functools.cached_property
    def _name_set(self) -> frozenset[str]:
        return frozenset(self.names)

    @functools.cached_property
    def _cell_param_names(self) -> frozenset[str]:
        return frozenset(n for c in self.cells for n in c.param_names)

    @functools.cached_property
    def _distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        out = {p.name: p.distribution() for p in self.params}
        for cell in self.cells:
            out.update(cell.distributions())
        return out

    def param(self, name: str) -> Hyperparameter:
        """The hyperparameter called ``name``."""
        for param in self.params:
            if param.name == name:
                return param
        raise SpaceError(f"no hyperparameter {name!r} in the space: expected one of {self.names}")

    # -- configurations -------------------------------------------------------------------

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check a configuration and return it normalized (types coerced, cells as NB201 strings).

        Inactive conditional parameters may be absent or present; they are dropped.

        Raises:
            SpaceError: naming the first parameter that is missing, unknown or out of range.
        """
        unknown = [] if self._name_set.issuperset(config) else \
            sorted(set(config) - self._name_set)
        if unknown:
            raise SpaceError(f"unknown parameter(s) {unknown}: the space has {list(self.names)}")
        out: dict[str, Any] = {}
        for param in self.params:
            if param.condition is not None and not param.condition.holds(out):
                continue
            if param.name not in config:
                raise SpaceError(f"configuration lacks {param.name!r}")
            out[param.name] = param.validate(config[param.name])
        for cell in self.cells:
            if cell.name not in config:
                raise SpaceError(f"configuration lacks the cell {cell.name!r}")
            out[cell.name] = cell.parse(config[cell.name]).to_nb201()
        return out

    def forbidding(self, config: Mapping[str, Any]) -> Clause | None:
        """The first forbidden clause that ``config`` (a valid configuration) satisfies."""
        return next((c for c in self.forbidden if c.holds(config)), None)

    def allows(self, config: Mapping[str, Any]) -> bool:
        """Whether no forbidden clause holds on ``config`` (a valid configuration)."""
        return not self.forbidden or self.forbidding(config) is None

    def sample(self, rng: np.random.Generator, fixed: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
        """A configuration drawn uniformly (per parameter) from the space, less what its
        forbidden clauses rule out (rejection: a forbidden draw is drawn again).

        Args:
            rng: the generator.
            fixed: hyperparameter values to keep (where active) instead of drawing them: a
                sampler completing a configuration it has partly chosen.

        Raises:
            SpaceError: :data:`MAX_REJECTIONS` draws in a row were all forbidden (or a fixed
                value is outside the space).
        """
        kept = {k: self.param(k).validate(v) for k, v in (fixed or {}).items()}
        clause: Clause | None = None
        for _ in range(MAX_REJECTIONS):
            config = self._draw(rng, kept)
            clause = self.forbidding(config)
            if clause is None:
                return config
        last = clause.describe() if clause is not None else "?"
        given = f" with {kept} fixed" if kept else ""
        raise SpaceError(f"{MAX_REJECTIONS} uniform draws{given} in a row were forbidden (the "
                         f"last by {last}): the forbidden clauses rule out nearly all of "
                         "the space")

    def redraw_forbidden(self, configs: list[dict[str, Any]], rng: np.random.Generator
                         ) -> list[dict[str, Any]]:
        """``configs`` with each forbidden one replaced by a :meth:`sample` draw.

        For a model's own draws (a prior's perturbations know nothing of forbidden clauses).
        A space that forbids nothing returns ``configs`` as they are, drawing nothing, so its
        random stream (hence every seeded result) is what it was before forbidden clauses.
        """
        if not self.forbidden:
            return configs
        return [c if self.allows(c) else self.sample(rng) for c in configs]

    def _draw(self, rng: np.random.Generator, fixed: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for param in self.params:
            if param.condition is None or param.condition.holds(out):
                out[param.name] = fixed[param.name] if param.name in fixed else param.sample(rng)
        for cell in self.cells:
            out[cell.name] = cell.sample(rng).to_nb201()
        return out

    def active_values(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """The hyperparameters of ``flat`` (a partial, flat configuration) that are active on
        it, in order; what forbidden clauses read (cells are left out: no clause reads them).

        A clause that holds on this part of a configuration holds on all of it (a clause over
        a missing parameter does not hold), so a sampler can refuse a partial configuration
        before it chooses the rest.
        """
        out: dict[str, Any] = {}
        for param in self.params:
            if param.name in flat and (param.condition is None or param.condition.holds(out)):
                out[param.name] = flat[param.name]
        return out

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask an Optuna trial for a configuration, define-by-run (conditions honoured).

        The trial's sampler chooses the values, so a forbidden configuration can come back
        (Optuna's samplers know no forbidden clauses); :meth:`allows` tells, and
        :meth:`Task.evaluate <metasearch.families.Task.evaluate>` fails such a trial unrun.
        """
        out: dict[str, Any] = {}
        for param in self.params:
            if param.condition is None or param.condition.holds(out):
                out[param.name] = param.suggest(trial)
        for cell in self.cells:
            edges = {
                name: trial.suggest_categorical(name, cell.ops) for name in cell.param_names
            }
            out[cell.name] = cell.unflatten(edges).to_nb201()
        return out

    # -- Optuna's flat view ---------------------------------------------------------------

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Every flat parameter's Optuna distribution (conditional ones included).

        Built once (the space is frozen; Optuna's distributions are not changed by their
        users); each call returns a new dict of them.
        """
        return dict(self._distributions)

    def flatten(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The flat form Optuna stores: each cell replaced by one entry per edge."""
        valid = self.validate(config)
        flat = {p.name: valid[p.name] for p in self.params if p.name in valid}
        for cell in self.cells:
            flat.update(cell.flatten(valid[cell.name]))
        return flat

    def unflatten(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """A configuration from Optuna's flat parameters (inverse of :meth:`flatten`)."""
        cell_params = self._cell_param_names
        config = {k: v for k, v in flat.items() if k not in cell_params}
        for cell in self.cells:
            config[cell.name] = cell.unflatten(flat).to_nb201()
        return self.validate(config)

    @functools.cached_property
    def _parents(self) -> frozenset[str]:
        """Every hyperparameter some condition reads (moving one can change what is active)."""
        return frozenset(n for p in self.params if p.condition is not None
                         for n in p.condition.parents)

    @functools.cached_property
    def _owners(self) -> dict[str, Hyperparameter | CellSpace]:
        """The hyperparameter or cell each flat parameter belongs to."""
        out: dict[str, Hyperparameter | CellSpace] = {p.name: p for p in self.params}
        out.update((n, c) for c in self.cells for n in c.param_names)
        return out

    def sets_activity(self, name: str) -> bool:
        """Whether a condition reads hyperparameter ``name`` (so moving it can change which
        parameters are active)."""
        return name in self._parents

    def replace(self, config: Mapping[str, Any], name: str, value: Any) -> dict[str, Any]:
        """``config`` with its flat parameter ``name`` set to ``value``.

        Exactly what ``unflatten({**flatten(config), name: value})`` returns (inactive values
        added to that flat form change nothing either), without the round trip through every
        parameter and cell: a local search builds hundreds of one-parameter moves per proposal.

        Args:
            config: a normalized configuration (what :meth:`validate` returns).
            name: an active flat parameter of ``config`` (a hyperparameter or a cell edge)
                that no condition reads (:meth:`sets_activity`).
            value: its new value.

        Raises:
            SpaceError: ``name`` is not such a parameter, or ``value`` is outside its range.
        """
        owner = self._owners.get(name)
        if owner is None or name in self._parents or not (
                isinstance(owner, CellSpace) or name in config):
            raise SpaceError(f"{name!r} is not an active flat parameter of {dict(config)} that "
                             "no condition reads: replace() cannot move it alone")
        out = dict(config)
        if isinstance(owner, CellSpace):
            out[owner.name] = owner.with_edge(config[owner.name], name, value)
        else:
            out[name] = owner.validate(value)
        return out

    # -- encoding -------------------------------------------------------------------------

    @property
    def encoding_length(self) -> int:
        """The fixed length of :meth:`encode`'s vectors for this space."""
        return sum(p.encoding_length for p in self.params) + sum(
            c.encoding_length for c in self.cells
        )

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """The one numeric encoding every model uses: numbers in [0, 1], fixed length.

        Numeric parameters are scaled to [0, 1] on their own (log) scale, categoricals one-hot,
        conditional parameters carry an "active" flag, and cells are one-hot per edge of their
        canonical representative, so isomorphic cells encode alike.
        """
        valid = self.validate(config)
        parts: list[float] = []
        for param in self.params:
            parts.extend(param.encode(valid.get(param.name)))
        vectors = [np.asarray(parts, dtype=np.float64)]
        vectors.extend(cell.encode(valid[cell.name]) for cell in self.cells)
        return np.concatenate(vectors)

    def encode_many(self, configs: Sequence[Mapping[str, Any]], *, validated: bool = False
                    ) -> np.ndarray:
        """:meth:`encode` for many configurations, stacked to ``(len(configs), length)``.

        Args:
            configs: the configurations.
            validated: they are already normalized (what :meth:`validate`, :meth:`sample` and
                :meth:`unflatten` return), so checking them again is skipped; a sampler
                encoding hundreds of its own candidates per trial saves most of the cost.
        """
        if not configs:
            return np.zeros((0, self.encoding_length))
        valid = configs if validated else [self.validate(c) for c in configs]
        out = np.empty((len(valid), self.encoding_length))
        col = 0
        for param in self.params:  # column by column: the same numbers as encode(), row-wise
            width = param.encoding_length
            out[:, col:col + width] = _encoded(param, [v.get(param.name) for v in valid])
            col += width
        for cell in self.cells:
            width = cell.encoding_length
            out[:, col:col + width] = [cell.encode_string(v[cell.name]) for v in valid]
            col += width
        return out

    # -- identity -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, read back by :meth:`from_dict`."""
        cells = [{"name": c.name, "n_nodes": c.n_nodes, "ops": list(c.ops)} for c in self.cells]
        out = {"params": [p.to_dict() for p in self.params], "cells": cells}
        if self.forbidden:  # only then: a space without any keeps its fingerprint
            out["forbidden"] = [c.to_dict() for c in self.forbidden]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Rebuild a space from :meth:`to_dict` output."""
        try:
            params = tuple(hyperparameter_from_dict(p) for p in data.get("params", []))
            cells = tuple(
                CellSpace(name=c["name"], n_nodes=int(c["n_nodes"]), ops=tuple(c["ops"]))
                for c in data.get("cells", [])
            )
            forbidden = tuple(clause_from_dict(c) for c in data.get("forbidden", []))
        except (KeyError, TypeError, AttributeError) as exc:
            raise SpaceError(f"malformed search space description: {exc!r}") from exc
        return cls(params, cells, forbidden)

    def fingerprint(self) -> str:
        """A short hash that changes whenever the space does (checked when loading models)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encoded(param: Hyperparameter, values: list[Any]) -> list[list[float]]:
    """``param.encode`` of each value, each distinct value encoded once: a local search's
    neighbours share all but one value with their climb, so a batch of them holds a few
    distinct values per parameter."""
    memo: dict[tuple[Any, ...], list[float]] = {}
    out = []
    for value in values:
        key: tuple[Any, ...] = (type(value), value)
        if isinstance(value, float) and value == 0.0:  # 0.0, -0.0: one key, encoded apart
            key = (float, value, math.copysign(1.0, value))
        row = memo.get(key)
        if row is None:
            row = memo[key] = param.encode(value)
        out.append(row)
    return out


def _value_kinds(param: Hyperparameter) -> set[str]:
    """Which of numbers and strings a parameter takes (what an order relation can compare)."""
    if not isinstance(param, Categorical):
        return {"number"}
    return {"number" if isinstance(c, (int, float)) and not isinstance(c, bool) else
            "string" if isinstance(c, str) else "other" for c in param.choices} - {"other"}
