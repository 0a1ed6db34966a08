"""Running searches to fill the warehouse: ``metasearch warehouse build`` and table imports.

This package sits above the families, the warehouse and the samplers: it runs a family's tasks
(through Optuna) or reads a benchmark's tables, and writes what it measures into the store.
Neither the store nor the families know it.
"""

from __future__ import annotations

from metasearch.runs._build import BuildJob, build_source_key, plan_build, run_build
from metasearch.runs._import import import_family, sampled_trials, table_trials

__all__ = [
    "BuildJob",
    "build_source_key",
    "import_family",
    "plan_build",
    "run_build",
    "sampled_trials",
    "table_trials",
]
