"""The warehouse: every trial and learning curve of every task, for meta-learning to feed on.

An SQLite file (``warehouse/warehouse.db`` by default) on one machine, PostgreSQL by URL for
many. Writes are transactional and idempotent; reads return frozen records and DataFrames.
This package imports neither torch nor Optuna at import time; the Optuna importer and the
build import what they need when they run.
"""

from __future__ import annotations

from metasearch.warehouse._build import BuildJob, build_source_key, plan_build, run_build
from metasearch.warehouse._engine import ENV_VAR, default_path
from metasearch.warehouse._export import export_family, export_frame
from metasearch.warehouse._ingest import (
    WarehouseRecorder,
    ingest_optuna,
    ingest_optuna_studies,
    ingest_table,
    run_source_key,
)
from metasearch.warehouse._migrations import SCHEMA_VERSION
from metasearch.warehouse._optuna import (
    finished_trials,
    load_studies,
    load_study,
    open_storage,
    optuna_source_key,
    shared_space,
    study_names,
    trial_data,
)
from metasearch.warehouse._records import (
    FamilyLike,
    FamilyRecord,
    FamilySpec,
    IngestSummary,
    RunRecord,
    RunSpec,
    TaskRecord,
    TaskStats,
    TrialData,
    TrialRecord,
)
from metasearch.warehouse._store import Warehouse

__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "BuildJob",
    "FamilyLike",
    "FamilyRecord",
    "FamilySpec",
    "IngestSummary",
    "RunRecord",
    "RunSpec",
    "TaskRecord",
    "TaskStats",
    "TrialData",
    "TrialRecord",
    "Warehouse",
    "WarehouseRecorder",
    "build_source_key",
    "default_path",
    "export_family",
    "export_frame",
    "finished_trials",
    "ingest_optuna",
    "ingest_optuna_studies",
    "ingest_table",
    "load_studies",
    "load_study",
    "open_storage",
    "optuna_source_key",
    "plan_build",
    "run_build",
    "run_source_key",
    "shared_space",
    "study_names",
    "trial_data",
]
