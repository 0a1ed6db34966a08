"""Search spaces: hyperparameters (conditional under any clause), NAS-Bench-201-style cells,
forbidden clauses, and one encoding of a config."""

from __future__ import annotations

from metasearch.spaces._cell import NB201_OPS, Cell, CellSpace, canonical
from metasearch.spaces._conditions import (
    AllOf,
    AnyOf,
    Clause,
    Comparison,
    Condition,
    Relation,
    clause_from_dict,
)
from metasearch.spaces._configspace import read_configspace_json, space_from_configspace
from metasearch.spaces._files import (
    hyperparameter_of_distribution,
    read_space_file,
    space_from_optuna_json,
)
from metasearch.spaces._params import (
    Categorical,
    Float,
    Hyperparameter,
    Int,
    hyperparameter_from_dict,
)
from metasearch.spaces._space import SearchSpace
from metasearch.spaces._unit import unit_position, unit_value

__all__ = [
    "NB201_OPS",
    "AllOf",
    "AnyOf",
    "Categorical",
    "Cell",
    "CellSpace",
    "Clause",
    "Comparison",
    "Condition",
    "Float",
    "Hyperparameter",
    "Int",
    "Relation",
    "SearchSpace",
    "canonical",
    "clause_from_dict",
    "hyperparameter_from_dict",
    "hyperparameter_of_distribution",
    "read_configspace_json",
    "read_space_file",
    "space_from_configspace",
    "space_from_optuna_json",
    "unit_position",
    "unit_value",
]
