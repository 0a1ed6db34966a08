"""The warehouse: every trial and learning curve of every task, for meta-learning to feed on.

An SQLite file (``warehouse/warehouse.db`` by default) on one machine, PostgreSQL by URL for
many. Writes are transactional and idempotent; reads return frozen records and DataFrames.
This package imports neither torch nor Optuna at import time; the Optuna importer imports it
when it runs. It knows no task family: filling it by running families is
:mod:`metasearch.runs`.
"""

from __future__ import annotations

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
from metasearch.records import (
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
    "run_source_key",
    "shared_space",
    "study_names",
    "trial_data",
]
