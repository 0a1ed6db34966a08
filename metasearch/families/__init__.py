"""Task families: the contract, the registry, and shared meta-feature code.

The families themselves live in the top-level ``task_families/`` folder (or come from entry
points); see :mod:`metasearch.families._registry` for how they are found.
"""

from __future__ import annotations

from metasearch.families._base import Task, TaskFamily
from metasearch.families._metafeatures import classification_meta_features
from metasearch.families._registry import (
    family_folders,
    family_names,
    get_family,
    load_errors,
    register_family,
)

__all__ = [
    "Task",
    "TaskFamily",
    "classification_meta_features",
    "family_folders",
    "family_names",
    "get_family",
    "load_errors",
    "register_family",
]
