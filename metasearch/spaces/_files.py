"""A space given explicitly in a file: ConfigSpace JSON, metasearch's JSON, Optuna distributions.

A table or a study whose parameters are conditional cannot have its space inferred (which
parent switches a parameter on is not in the data), so ingest takes the space from a file in
one of three formats, told apart by their keys:

- ConfigSpace's JSON (a ``hyperparameters`` list): conditions and forbidden clauses included
  (:mod:`metasearch.spaces._configspace`);
- metasearch's own (:meth:`SearchSpace.to_dict`: a ``params`` list), as
  ``metasearch warehouse show --json`` prints it;
- Optuna distributions, ``{name: optuna.distributions.distribution_to_json(dist)}`` (each value
  that JSON string, or the object it encodes). Optuna has no conditions: its define-by-run
  objectives simply leave a parameter out of a trial. A space in this format is therefore
  unconditional, every parameter present in every trial; a conditional study or table needs
  its conditions, given in one of the first two formats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metasearch.errors import SpaceError
from metasearch.spaces._configspace import read_configspace_json
from metasearch.spaces._params import Categorical, Float, Hyperparameter, Int
from metasearch.spaces._space import SearchSpace

__all__ = ["hyperparameter_of_distribution", "read_space_file", "space_from_optuna_json"]


def read_space_file(path: str | Path) -> SearchSpace:
    """The space in JSON file ``path``, in whichever of the three formats it is.

    Raises:
        SpaceError: the file is unreadable, in none of the formats, or malformed in its own
            (naming the file and, for Optuna distributions, the parameter).
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SpaceError(f"{path}: cannot be read as a JSON space: {exc}") from exc
    if isinstance(data, Mapping) and "hyperparameters" in data:
        return read_configspace_json(path)
    try:
        if isinstance(data, Mapping) and "params" in data:
            return SearchSpace.from_dict(data)
        if isinstance(data, Mapping) and data and all(_looks_optuna(v) for v in data.values()):
            return space_from_optuna_json(data)
    except SpaceError as exc:
        raise SpaceError(f"{path}: {exc}") from exc
    raise SpaceError(f"{path}: neither a ConfigSpace JSON ('hyperparameters'), a metasearch "
                     "space ('params', as `metasearch warehouse show --json` prints it), nor "
                     "Optuna distributions ({name: distribution_to_json(dist)})")


def _looks_optuna(value: Any) -> bool:
    """Whether ``value`` is meant as one of Optuna's distribution JSONs (maybe a broken one)."""
    if isinstance(value, str):
        return '"name"' in value and '"attributes"' in value
    return isinstance(value, Mapping) and "name" in value and "attributes" in value


def space_from_optuna_json(data: Mapping[str, Any]) -> SearchSpace:
    """The unconditional space of ``{name: distribution JSON}``, parameters by name.

    Raises:
        SpaceError: an entry Optuna cannot read, or a distribution metasearch cannot search,
            naming the parameter.
    """
    from optuna.distributions import json_to_distribution

    params = []
    for name in sorted(data):
        value = data[name]
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            dist = json_to_distribution(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise SpaceError(f"parameter {name!r}: not an Optuna distribution JSON "
                             f"({type(exc).__name__}: {exc}): {text[:200]}") from exc
        params.append(hyperparameter_of_distribution(name, dist))
    return SearchSpace(tuple(params))


def hyperparameter_of_distribution(name: str, dist: Any) -> Hyperparameter:
    """The hyperparameter an Optuna distribution samples (the inverse of
    :meth:`Hyperparameter.distribution`; a float step is dropped, as the continuous range
    holds every stepped value).

    Raises:
        SpaceError: not a Float, Int or Categorical distribution, or an invalid one.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, FloatDistribution):
        return Float(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, IntDistribution):
        return Int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, CategoricalDistribution):
        return Categorical(name, tuple(dist.choices))
    raise SpaceError(f"parameter {name!r}: unsupported Optuna distribution {dist!r}")
