"""Search spaces: hyperparameters, NAS-Bench-201-style cells, and one encoding of a config."""

from __future__ import annotations

from metasearch.spaces._cell import NB201_OPS, Cell, CellSpace, canonical
from metasearch.spaces._configspace import (
    read_configspace_json,
    read_space_file,
    space_from_configspace,
)
from metasearch.spaces._params import (
    Categorical,
    Condition,
    Float,
    Hyperparameter,
    Int,
    hyperparameter_from_dict,
)
from metasearch.spaces._space import SearchSpace
from metasearch.spaces._unit import unit_position, unit_value

__all__ = [
    "NB201_OPS",
    "Categorical",
    "Cell",
    "CellSpace",
    "Condition",
    "Float",
    "Hyperparameter",
    "Int",
    "SearchSpace",
    "canonical",
    "hyperparameter_from_dict",
    "read_configspace_json",
    "read_space_file",
    "space_from_configspace",
    "unit_position",
    "unit_value",
]
