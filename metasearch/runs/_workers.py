"""Running a build's tasks in worker processes, with progress sent back to the parent.

Processes are spawned (never forked: a fork would copy the parent's database connections and
any torch threads), each opens the warehouse itself and, for families that train with torch,
uses one intra-op thread, so ``--workers K`` on K cores runs K trainings side by side instead
of K fighting over every core.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from metasearch.families import TaskFamily, get_family
from metasearch.warehouse import Warehouse

if TYPE_CHECKING:  # the build imports this module; these names are for the type hints only
    from metasearch.runs._build import BuildJob, TrialCallback

__all__ = ["run_in_processes"]

JobRunner = Callable[..., int]
"""``run_job(warehouse, family, job, *, device, seed, on_trial)``: one task's build, run in a
worker (passed in by the build, and pickled by reference, so a worker imports the build)."""


def _work(run_job: JobRunner, url: str, job: BuildJob, device: str, seed: int,
          progress: Any) -> int:
    family: TaskFamily = get_family(job.family)
    if family.uses_torch:
        import torch  # only a torch family's worker pays for it

        torch.set_num_threads(1)
    with Warehouse.open(url) as warehouse:
        return run_job(warehouse, family, job, device=device, seed=seed,
                       on_trial=lambda f, t, result: progress.put((f, t, result)))


def _drain(progress: Any, on_trial: TrialCallback | None) -> None:
    while True:
        try:
            family, task, result = progress.get_nowait()
        except queues.Empty:
            return
        if on_trial is not None:
            on_trial(family, task, result)


def run_in_processes(
    run_job: JobRunner,
    url: str,
    jobs: Sequence[BuildJob],
    *,
    device: str,
    seed: int,
    workers: int,
    on_trial: TrialCallback | None,
) -> int:
    """Run ``jobs`` with ``run_job`` in ``workers`` spawned processes; trials written."""
    context = multiprocessing.get_context("spawn")
    written = 0
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        progress = manager.Queue()
        pending: set[Future[int]] = {
            pool.submit(_work, run_job, url, job, device, seed, progress) for job in jobs
        }
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(progress, on_trial)
                written += sum(future.result() for future in done)
        finally:
            for future in pending:
                future.cancel()
        _drain(progress, on_trial)
    return written
