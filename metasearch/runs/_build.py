"""Filling the warehouse by running the registered families: ``metasearch warehouse build``.

Per task, an Optuna TPE search (Bergstra et al., 2011) whose first 60% of trials are random
(:data:`STARTUP_SHARE`): the random ones cover the whole space, bad regions included, which a
meta-model needs to learn what to avoid, and the TPE ones cover the good regions densely.
Every task is its own run with the source key ``build:<family>/<task>#seed=<seed>``; each
trial is written the moment it finishes, so a killed build loses at most the trials in
flight. Re-running counts what each task's run already holds, rebuilds the sampler's study from
those trials (``study.add_trial``) and runs only the rest, so nothing is repeated and the
search goes on informed by everything stored.

It sits above the warehouse, the families and the samplers (it runs the one into the other);
the store itself knows neither.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from metasearch.errors import WarehouseError
from metasearch.families import TaskFamily, get_family
from metasearch.records import RunSpec, TrialRecord
from metasearch.runs._workers import run_in_processes
from metasearch.samplers import TaskObjective
from metasearch.warehouse import Warehouse, WarehouseRecorder

if TYPE_CHECKING:
    import optuna

    from metasearch.evaluation import EvalResult
    from metasearch.spaces import SearchSpace

__all__ = ["STARTUP_SHARE", "BuildJob", "build_source_key", "plan_build", "run_build"]

STARTUP_SHARE = 0.6
TrialCallback = Callable[[str, str, "EvalResult"], None]
"""Called as ``(family, task, result)`` after each trial a build writes."""


@dataclass(frozen=True)
class BuildJob:
    """One task of a build: ``trials`` wanted, ``stored`` already in the warehouse."""

    family: str
    task: str
    trials: int
    stored: int

    @property
    def todo(self) -> int:
        """Trials still to run."""
        return max(0, self.trials - self.stored)


def build_source_key(family: str, task: str, seed: int) -> str:
    """The source key of one task's build."""
    return f"build:{family}/{task}#seed={seed}"


def plan_build(
    warehouse: Warehouse,
    families: Sequence[TaskFamily],
    *,
    n_tasks: int | None,
    n_trials: int,
    seed: int,
) -> list[BuildJob]:
    """The jobs of a build: the first ``n_tasks`` tasks of each family (all when None)."""
    if n_trials < 1 or (n_tasks is not None and n_tasks < 1):
        raise WarehouseError(f"a build needs >= 1 task and trial, got tasks={n_tasks}, "
                             f"trials={n_trials}")
    jobs = []
    for family in families:
        counts = warehouse.trial_counts(family.name)
        for task in family.task_ids()[:n_tasks]:
            stored = counts.get(build_source_key(family.name, task, seed), 0)
            jobs.append(BuildJob(family.name, task, n_trials, stored))
    return jobs


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial log lines and experimental warnings would break the progress bar."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _frozen(record: TrialRecord, space: SearchSpace) -> optuna.trial.FrozenTrial:
    """A stored trial as Optuna's sampler sees it (flat parameters, state, curve)."""
    from optuna.trial import TrialState, create_trial

    params = space.flatten(record.config)
    distributions = space.distributions()
    # As TaskObjective told Optuna: a trial that failed after some epochs is COMPLETE with its
    # last value, so the sampler keeps learning that its region is bad.
    if record.status != "pruned" and record.final_value is not None:
        state = TrialState.COMPLETE
    elif record.status == "pruned":
        state = TrialState.PRUNED
    else:
        state = TrialState.FAIL
    return create_trial(
        params=params, distributions={k: distributions[k] for k in params},
        value=record.final_value if state == TrialState.COMPLETE else None, state=state,
        intermediate_values=dict(zip(record.steps, record.curve, strict=True)),
    )


def _study(family: TaskFamily, job: BuildJob, seed: int,
           stored: list[TrialRecord]) -> optuna.Study:
    import optuna

    sampler = optuna.samplers.TPESampler(
        n_startup_trials=max(1, math.ceil(STARTUP_SHARE * job.trials)),
        seed=zlib.crc32(f"{seed}/{job.family}/{job.task}".encode()),
        multivariate=True, group=True,
    )
    # No pruner (Optuna's default would be the median rule): the warehouse wants whole curves.
    study = optuna.create_study(direction=family.direction, sampler=sampler,
                                pruner=optuna.pruners.NopPruner())
    for record in sorted(stored, key=lambda r: r.number):
        study.add_trial(_frozen(record, family.space))
    return study


def run_job(
    warehouse: Warehouse,
    family: TaskFamily,
    job: BuildJob,
    *,
    device: str,
    seed: int,
    on_trial: TrialCallback | None = None,
) -> int:
    """Run what is left of one task's build; the number of trials written."""
    key = build_source_key(family.name, job.task, seed)
    stored = (warehouse.trial_records(family.name, tasks=[job.task], source_key=key)
              if warehouse.has_family(family.name) else [])
    todo = job.trials - len(stored)
    if todo <= 0:
        return 0
    task = family.task(job.task)
    run = RunSpec(key, "build", seed=seed, device=device,
                  info={"sampler": "tpe", "startup_share": STARTUP_SHARE, "trials": job.trials})
    # Numbers go on after the largest stored one, even if a crash left a gap.
    offset = max((r.number for r in stored), default=-1) + 1 - len(stored)
    recorder = WarehouseRecorder(warehouse, family, job.task, run,
                                 meta_features=task.meta_features, offset=offset)
    objective = TaskObjective(task, device=device, seed=seed, hooks=[recorder])
    if on_trial is not None:
        objective.hooks.append(lambda trial, result: on_trial(family.name, job.task, result))
    with _quiet_optuna():
        study = _study(family, job, seed, stored)
        study.optimize(objective, n_trials=todo)
    return recorder.written


def run_build(
    warehouse: Warehouse,
    jobs: Sequence[BuildJob],
    *,
    device: str = "auto",
    seed: int = 0,
    workers: int = 1,
    on_trial: TrialCallback | None = None,
) -> int:
    """Run ``jobs`` (in ``workers`` processes, one task each at a time); trials written."""
    todo = [job for job in jobs if job.todo > 0]
    if workers <= 1 or len(todo) <= 1:
        return sum(run_job(warehouse, get_family(j.family), j, device=device, seed=seed,
                           on_trial=on_trial) for j in todo)
    return run_in_processes(run_job, warehouse.full_url, todo, device=device, seed=seed,
                            workers=workers, on_trial=on_trial)

