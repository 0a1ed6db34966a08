"""Task families: the contract, the registry, and shared meta-feature code.

The families themselves live in the top-level ``task_families/`` folder (or come from entry
points); see :mod:`metasearch.families._registry` for how they are found. Public benchmark
families find their data through :mod:`metasearch.families._benchmarks` and answer from
tables through :mod:`metasearch.families._tabular`.
"""

from __future__ import annotations

from metasearch.families._base import Task, TaskFamily
from metasearch.families._benchmarks import BenchmarkDataError, find_data, set_data_path
from metasearch.families._metafeatures import classification_meta_features
from metasearch.families._registry import (
    family_folders,
    family_names,
    get_family,
    load_errors,
    register_family,
    resolve_family,
)
from metasearch.families._stored import (
    NoObjectiveError,
    StoredFamily,
    stored_benchmark,
    stored_family,
)
from metasearch.families._surrogate import FitQuality, SurrogateFamily
from metasearch.families._tabular import (
    LookupTable,
    ReplayFamily,
    TabularFamily,
    TabularTask,
    replay_family,
    replay_from_records,
)

__all__ = [
    "BenchmarkDataError",
    "FitQuality",
    "LookupTable",
    "NoObjectiveError",
    "ReplayFamily",
    "StoredFamily",
    "SurrogateFamily",
    "TabularFamily",
    "TabularTask",
    "Task",
    "TaskFamily",
    "classification_meta_features",
    "family_folders",
    "family_names",
    "find_data",
    "get_family",
    "load_errors",
    "register_family",
    "replay_family",
    "replay_from_records",
    "resolve_family",
    "set_data_path",
    "stored_benchmark",
    "stored_family",
]
