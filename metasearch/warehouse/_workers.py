"""Running a build's tasks in worker processes, with progress sent back to the parent.

Processes are spawned (never forked: a fork would copy the parent's database connections and
any torch threads), each opens the warehouse itself and, for families that train with torch,
uses one intra-op thread, so ``--workers K`` on K cores runs K trainings side by side instead
of K fighting over every core.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metasearch.warehouse._build import BuildJob, TrialCallback

__all__ = ["run_in_processes"]


def _work(url: str, job: BuildJob, device: str, seed: int, progress: Any) -> int:
    from metasearch.families import get_family
    from metasearch.warehouse._build import run_job
    from metasearch.warehouse._store import Warehouse

    family = get_family(job.family)
    if family.uses_torch:
        import torch

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
    url: str,
    jobs: Sequence[BuildJob],
    *,
    device: str,
    seed: int,
    workers: int,
    on_trial: TrialCallback | None,
) -> int:
    """Run ``jobs`` in ``workers`` spawned processes; the number of trials written."""
    context = multiprocessing.get_context("spawn")
    written = 0
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        progress = manager.Queue()
        pending: set[Future[int]] = {
            pool.submit(_work, url, job, device, seed, progress) for job in jobs
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
