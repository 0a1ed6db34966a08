"""Comparison: held-out tasks searched by metasearch and by baselines; metrics and the report.

The metrics are pure functions of the per-trial ``runs`` table (one row per trial of every
(task, method, seed) run, :data:`RUN_COLUMNS`) and the per-run ``costs`` table
(:data:`COST_COLUMNS`), so a report can be recomputed from its CSVs. matplotlib is imported only
when a report is written.
"""

from __future__ import annotations

from metasearch.compare._collect import (
    CompareResult,
    collect_runs,
    finish_compare,
    known_bounds,
    method_roles,
    rerun_command,
)
from metasearch.compare._execute import execute, run_unit
from metasearch.compare._metrics import (
    COST_COLUMNS,
    DEFAULT_KS,
    RUN_COLUMNS,
    add_regret,
    average_rank,
    bootstrap_ci,
    effective_ks,
    holm,
    incumbent_curve,
    normalized_regret,
    rank_curve,
    regret_at,
    regret_curve,
    regret_matrix,
    speedup,
    task_bounds,
    trials_to_target,
    validate_runs,
    wilcoxon_vs,
)
from metasearch.compare._plan import QUICK, ComparePlan, RunUnit, plan_compare
from metasearch.compare._protocols import HeldOutSplit, LeaveOneOut, TransferFrom
from metasearch.compare._report import (
    cost_summary,
    headline,
    headline_lines,
    summarize,
    summary_table,
    table_notes,
    write_report,
)

__all__ = [
    "COST_COLUMNS",
    "DEFAULT_KS",
    "QUICK",
    "RUN_COLUMNS",
    "ComparePlan",
    "CompareResult",
    "HeldOutSplit",
    "LeaveOneOut",
    "RunUnit",
    "TransferFrom",
    "add_regret",
    "average_rank",
    "bootstrap_ci",
    "collect_runs",
    "cost_summary",
    "effective_ks",
    "execute",
    "finish_compare",
    "headline",
    "headline_lines",
    "holm",
    "incumbent_curve",
    "known_bounds",
    "method_roles",
    "normalized_regret",
    "plan_compare",
    "rank_curve",
    "regret_at",
    "regret_curve",
    "regret_matrix",
    "rerun_command",
    "run_unit",
    "speedup",
    "summarize",
    "summary_table",
    "table_notes",
    "task_bounds",
    "trials_to_target",
    "validate_runs",
    "wilcoxon_vs",
    "write_report",
]
