"""Collecting a comparison: every finished run's trials as the ``runs`` and ``costs`` tables.

Values are normalized per task by the best and worst value known (the warehouse's trials of
the task, or its table, merged with every run's values): the test tasks' stored trials are
used for this scaling only, never for fitting.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metasearch.compare._execute import SUGGEST_ATTR, finished_trials, open_storage
from metasearch.compare._metrics import add_regret, task_bounds
from metasearch.compare._plan import ComparePlan, benchmark_family
from metasearch.compare._protocols import HeldOutSplit
from metasearch.compare._report import summarize, summary_table, table_notes, write_report
from metasearch.errors import MetasearchError
from metasearch.families._tabular import TabularTask
from metasearch.samplers._methods import METHODS
from metasearch.warehouse import Warehouse

__all__ = ["CompareResult", "Roles", "collect_runs", "finish_compare", "known_bounds",
           "method_roles", "rerun_command"]


def known_bounds(store: Any, family: str, tasks: Sequence[str],
                 warehouse: str | None = None) -> pd.DataFrame:
    """Best and worst complete final value per task from the warehouse (and tabular tables).

    ``warehouse`` is where a family that exists only in the warehouse is read (the plan's).
    """
    fam = benchmark_family(family, warehouse)
    stored = pd.DataFrame(columns=["best", "worst"], dtype=float)
    if store.has_family(family):
        names = {x.name for x in store.tasks(family)}
        stored = store.task_bounds(family, fam.direction, tasks=[t for t in tasks if t in names])
    finals = []
    for task_id in tasks:
        task = fam.task(task_id)
        if isinstance(task, TabularTask):
            table = task.table
            values = table.curves[~table.failed, -1]
            finals += [{"task": task_id, "value": v, "state": "complete"}
                       for v in values[np.isfinite(values)]]
    if not finals:
        return stored
    tabled = task_bounds(pd.DataFrame(finals), fam.direction, known=stored)
    return pd.concat([stored.drop(index=tabled.index, errors="ignore"),
                      tabled[["best", "worst"]]])


def collect_runs(plan: ComparePlan, bounds: pd.DataFrame | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The ``runs`` and ``costs`` tables of every finished run, and how many are unfinished."""
    import optuna
    from optuna.trial import TrialState

    fam = benchmark_family(plan.family, plan.warehouse)
    storage = open_storage(plan.storage)
    rows: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    unfinished = 0
    for unit in plan.units:
        try:
            study = optuna.load_study(study_name=unit.study_name, storage=storage)
        except KeyError:
            unfinished += 1
            continue
        trials = finished_trials(study)[: unit.budget]
        if len(trials) < unit.budget:
            unfinished += 1
            continue
        saved = 0
        for i, trial in enumerate(trials, start=1):
            state = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed",
                     TrialState.PRUNED: "pruned"}[trial.state]
            value = trial.value if trial.state == TrialState.COMPLETE else np.nan
            # The evaluation's seconds (the pruner's decisions included), never the trial's
            # wall span, which also holds the sampler's suggestion (``suggest_s_mean``).
            cost = trial.user_attrs.get("cost_s")
            if state == "pruned":
                saved += fam.max_budget - len(trial.intermediate_values)
            rows.append({"family": unit.family, "task": unit.task, "method": unit.method,
                         "seed": unit.seed, "trial": i, "value": value, "incumbent": np.nan,
                         "regret": np.nan, "state": state,
                         "cost_s": np.nan if cost is None else float(cost),
                         "epochs": len(trial.intermediate_values)})
        trial_costs = [r["cost_s"] for r in rows[-len(trials):]]
        costs.append({
            "method": unit.method, "task": unit.task, "seed": unit.seed,
            "meta_train_s": plan.meta_train_s.get(unit.model_dir, 0.0) if unit.model_dir else 0.0,
            "suggest_s_mean": float(study.user_attrs.get(SUGGEST_ATTR, 0.0)) / len(trials),
            "trial_s_mean": float(np.nanmean(trial_costs)) if np.isfinite(trial_costs).any()
            else np.nan,
            "pruned_epochs_saved": saved,
        })
    runs = pd.DataFrame(rows)
    if runs.empty:
        return runs, pd.DataFrame(costs), unfinished
    limits = task_bounds(runs, fam.direction, known=bounds)
    return add_regret(runs, limits), pd.DataFrame(costs), unfinished


# -- the report ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Roles:
    """Who the report is about: the method of interest, its baselines, the reference."""

    focus: str
    baselines: list[str]
    reference: str


def method_roles(methods: Sequence[str]) -> Roles:
    """``metasearch`` (else the first method) against the cold- and warm-start baselines,
    with TPE (else the first baseline) as the reference of speed-ups."""
    focus = "metasearch" if "metasearch" in methods else methods[0]
    baselines = [m for m in methods if METHODS[m].group in ("cold-start", "warm-start")
                 and m != focus]
    reference = "tpe" if "tpe" in methods else (baselines[0] if baselines else focus)
    return Roles(focus, baselines, reference)


def rerun_command(plan: ComparePlan, *, warehouse: str | None, model: Path | None, seed: int,
                  device: str, storage: str | None, data: Path | None = None) -> str:
    """The command that reruns exactly this comparison (every choice spelled out)."""
    split = (plan.how or HeldOutSplit()).args(plan.train, plan.test)
    args = ["metasearch", "compare", "--family", plan.family, *split,
            "--methods", ",".join(plan.methods), "--seeds", str(plan.seeds),
            "--budget", str(plan.budget), "--seed", str(seed), "--device", device]
    for flag, value in (("--warehouse", warehouse), ("--model", model),
                        ("--storage", storage), ("--data", data)):
        if value is not None:
            args += [flag, str(value)]
    return shlex.join(args)


@dataclass(frozen=True)
class CompareResult:
    """What a finished comparison wrote: its tables, summary and report."""

    runs: pd.DataFrame
    costs: pd.DataFrame
    summary: dict[str, Any]
    report: Path
    unfinished: int


def finish_compare(plan: ComparePlan, outcomes: dict[str, int], *, command: str,
                   started: float) -> CompareResult:
    """Collect the finished runs, summarize them and write the report beside the plan's runs.

    The protocol the report records gains the rerun ``command``, the runs' ``outcomes`` and the
    seconds since ``started`` (a ``time.perf_counter()`` value).

    Raises:
        MetasearchError: when no run has finished yet.
    """
    with Warehouse.open(plan.warehouse) as store:
        bounds = known_bounds(store, plan.family, plan.test, plan.warehouse)
    runs, costs, unfinished = collect_runs(plan, bounds)
    if runs.empty:
        raise MetasearchError("no run has finished yet (all are in progress elsewhere)")
    roles = method_roles(plan.methods)
    summary = summarize(runs, costs, method_of_interest=roles.focus, baselines=roles.baselines,
                        reference=roles.reference)
    plan.protocol["commands"] = [command]
    plan.protocol["outcomes"] = outcomes
    plan.protocol["seconds"] = round(time.perf_counter() - started, 1)
    report = write_report(plan.out, runs, costs, summary,
                          title=f"metasearch compare: {plan.family}", protocol=plan.protocol)
    (plan.out / "summary.md").write_text(summary_markdown(summary_table(summary), summary))
    return CompareResult(runs, costs, summary, report, unfinished)


def summary_markdown(table: list[list[str]], summary: dict[str, Any]) -> str:
    """The summary table in Markdown, with median regret at 5 and at the budget (for READMEs)."""
    regret = summary.get("regret_at", {})
    ks = [str(k) for k in summary.get("ks", [])]
    first, last = ("5" if "5" in ks else ks[0]), ks[-1]
    header = [*table[0], f"median regret@{first}", f"median regret@{last}"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in table[1:]:
        at = regret.get(row[0], {})
        medians = [at.get(k, {}).get("median") for k in (first, last)]
        cells = [*row, *("-" if m is None else f"{m:.3f}" for m in medians)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = table_notes(summary)
    return "\n".join([*lines, *(["", *notes] if notes else [])]) + "\n"
