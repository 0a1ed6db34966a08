"""Filling the warehouse from a benchmark: every row of a table, or seeded uniform trials.

``metasearch families import`` runs this; the families answer from tables
(:mod:`metasearch.families._tabular`), this module writes what they answer into the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from metasearch.families import TabularFamily, TabularTask, Task, TaskFamily
from metasearch.records import IngestSummary, RunSpec, TrialData
from metasearch.warehouse import Warehouse

__all__ = ["import_family", "sampled_trials", "table_trials"]


def table_trials(task: TabularTask) -> Iterator[TrialData]:
    """Every row of ``task``'s table as a trial (its measured curve, not a group mean)."""
    table = task.table
    for row, config in enumerate(table.configs):
        values = table.curves[row]
        bad = np.flatnonzero(np.isnan(values))
        end = int(bad[0]) if len(bad) else len(values)
        failed = bool(table.failed[row]) or end < len(values)
        test = None if table.tests is None or failed else float(table.tests[row, end - 1])
        yield TrialData(
            task=task.id, number=row, config=config, status="failed" if failed else "complete",
            curve=tuple(float(v) for v in values[:end]), final_value=(
                float(values[end - 1]) if end and not failed else None),
            test_value=None if test is None or np.isnan(test) else test,
            failure_reason=f"NaN at step {end + 1}" if failed else None, budget=len(values),
        )


def sampled_trials(task: Task, n_trials: int, seed: int) -> Iterator[TrialData]:
    """``n_trials`` configurations drawn uniformly (seeded), evaluated at the full budget."""
    rng = np.random.default_rng([seed, *task.id.encode()])
    for number in range(n_trials):
        config = task.family.space.sample(rng)
        yield TrialData.from_result(task.id, number, task.evaluate(config, device="cpu",
                                                                   seed=seed))


def import_family(
    store: Warehouse,
    family: TaskFamily,
    *,
    n_trials: int = 100,
    seed: int = 0,
    on_task: Callable[[str, IngestSummary], None] | None = None,
) -> list[IngestSummary]:
    """Store every tabulated trial of every task of ``family`` (one transaction per task).

    A tabular family stores each table row; another (a surrogate) stores ``n_trials`` seeded
    uniform configurations per task. The source key is ``benchmark:FAMILY`` (plus the design
    for a surrogate) and trials are numbered by row, so importing again adds nothing that is
    stored already (each summary counts them as skipped).
    """
    tabular = isinstance(family, TabularFamily)
    key = f"benchmark:{family.name}" + ("" if tabular else f":uniform{n_trials}:seed{seed}")
    run = RunSpec(key, "table", seed=None if tabular else seed, device="cpu",
                  info={"benchmark": family.name, "design": "table" if tabular else "uniform"})
    summaries = []
    for task in family.tasks():
        if isinstance(task, TabularTask):
            batch = list(table_trials(task))
        else:
            batch = list(sampled_trials(task, n_trials, seed))
        summary = store.ingest(family, run, batch, meta_features={task.id: task.meta_features})
        summaries.append(summary)
        if on_task is not None:
            on_task(task.id, summary)
    return summaries

