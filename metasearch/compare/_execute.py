"""Executing a comparison: one Optuna study per (task, method, seed) run, claimed and resumed.

Each run is a study in one Optuna storage (a journal file under the output folder, or
``--storage`` URL shared by several machines), written when the run is complete, so an
interrupted comparison resumes with the runs it had not finished, and machines that share the
storage split the runs between them: a run is claimed by the first process that starts it.
Every method gets the same budget of trials and the same seeds (trial ``n`` of seed ``s``
trains with seed ``s * 10_000 + n`` whatever the method).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import optuna

from metasearch.compare._plan import SPLIT_ATTR, ComparePlan, RunUnit, benchmark_family
from metasearch.compare._timed import TimedSampler
from metasearch.compare._train import cached_model
from metasearch.errors import MetasearchError
from metasearch.samplers import SearchInputs, TaskObjective, build_method

__all__ = ["SUGGEST_ATTR", "check_stored", "execute", "finished_trials", "open_storage",
           "run_unit", "unit_search"]

CLAIM_SUFFIX = "#claim"
"""A run's claim is a study of its own (``<run>#claim``): creating a study is atomic in every
Optuna storage, so two workers cannot both claim one run."""
SUGGEST_ATTR = "compare:suggest_s"
SEED_STRIDE = 10_000

def open_storage(url: str) -> Any:
    """An Optuna storage: ``journal:PATH`` is a journal file (multi-process safe), else RDB.

    Optuna creates an RDB's tables on first use and fails when several processes do so at
    once; a compare started on several machines together retries until they exist.
    """
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Another machine is creating Optuna's tables this moment: they exist next time.
            time.sleep(0.5 * (attempt + 1))
    return optuna.storages.RDBStorage(url)


def _worker_init() -> None:
    """One thread per worker process: the jobs already use every core."""
    import torch

    torch.set_num_threads(1)


def finished_trials(study: Any) -> list[Any]:
    """The study's finished (complete, failed or pruned) trials in order."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
    return list(study.get_trials(deepcopy=False, states=states))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(storage: Any, study_name: str) -> bool:
    """Claim the run ``study_name`` for this process; False when another one holds it.

    A claim held by a process of this host that is no longer running (an interrupted
    compare) is taken over; one held on another host is left to it.
    """
    me = f"{socket.gethostname()}:{os.getpid()}"
    name = study_name + CLAIM_SUFFIX
    try:
        claim = optuna.create_study(storage=storage, study_name=name)
    except optuna.exceptions.DuplicatedStudyError:
        claim = optuna.load_study(study_name=name, storage=storage)
        owner = str(claim.user_attrs.get("owner", ""))
        host, _, pid = owner.rpartition(":")
        if owner == me:
            return True
        if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            return False
    claim.set_user_attr("owner", me)
    return True


def unit_search(unit: RunUnit, task: Any) -> tuple[optuna.Study, TimedSampler, TaskObjective]:
    """The in-memory study one run searches (its method's sampler, timed, and pruner; its
    queued trials) and the objective it optimizes, ``task`` being the run's task.

    Returns:
        ``(study, timed sampler, objective)``.
    """
    built = build_method(unit.method, SearchInputs(
        seed=unit.seed, model=cached_model(unit.model_dir), task_features=unit.task_features,
        space=task.family.space, max_budget=task.family.max_budget, warm=unit.warm,
        choices=task.configurations()))
    timed = TimedSampler(built.sampler)
    study = optuna.create_study(sampler=timed,
                                pruner=built.pruner or optuna.pruners.NopPruner(),
                                direction=task.family.direction)
    for params in built.enqueue:
        study.enqueue_trial(params, skip_if_exists=True)
    return study, timed, TaskObjective(task, device=unit.device, seed=unit.seed * SEED_STRIDE)


def run_unit(unit: RunUnit) -> str:
    """Run one run to its budget unless it is done; ``done``, ``ran`` or ``elsewhere``.

    The run's trials are searched in memory and written to the storage in one go at the end:
    a pruner reads the study at every reported epoch, and on a shared file or database that
    costs more than the trial. A run cut short before its trials were written is run again
    from its first trial (same seeds, so the same result); one whose writing was cut short
    is deleted and run again.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    task = benchmark_family(unit.family, unit.warehouse).task(unit.task)
    storage = open_storage(unit.storage)
    direction = task.family.direction
    stored = optuna.create_study(storage=storage, study_name=unit.study_name,
                                 direction=direction, load_if_exists=True)
    if len(finished_trials(stored)) >= unit.budget:
        return "done"
    if not _claim(storage, unit.study_name):
        return "elsewhere"
    if stored.trials:  # a partial write: start the run over
        optuna.delete_study(study_name=unit.study_name, storage=storage)
        stored = optuna.create_study(storage=storage, study_name=unit.study_name,
                                     direction=direction)

    study, timed, objective = unit_search(unit, task)
    study.optimize(objective, n_trials=unit.budget)
    stored.add_trials(finished_trials(study))
    stored.set_user_attr(SUGGEST_ATTR, timed.seconds)
    if unit.split:
        stored.set_user_attr(SPLIT_ATTR, unit.split)
    return "ran"


def check_stored(plan: ComparePlan) -> int:
    """Refuse a storage whose runs of this plan were searched under another split.

    A comparison reuses every finished run its storage holds under a run's name (resuming,
    or adding methods later with ``--storage`` pointing at an earlier comparison's runs);
    that is honest only when the runs held out the same tasks and meta-trained on the same
    ones. Runs that recorded no split (written before runs recorded one) cannot be checked.

    Returns:
        How many of the plan's stored runs recorded no split (reused unchecked).

    Raises:
        MetasearchError: a stored run of the plan recorded another split, named with both.
    """
    attrs = {s.study_name: s.user_attrs for s in
             optuna.get_all_study_summaries(open_storage(plan.storage), include_best_trial=False)}
    stored = [(u, attrs[u.study_name]) for u in plan.units if u.study_name in attrs]
    clashes = [u.study_name for u, a in stored if a.get(SPLIT_ATTR, u.split) != u.split]
    if clashes:
        other = attrs[clashes[0]][SPLIT_ATTR]
        raise MetasearchError(
            f"{len(clashes)} runs stored in {plan.storage} were searched under another split "
            f"(e.g. {clashes[0]!r}: split {other}, this comparison's {plan.split}): other test "
            "or training tasks, meta-training seed or model; use another --out/--storage, or "
            "the options those runs were made with")
    return sum(SUGGEST_ATTR in a and SPLIT_ATTR not in a for _, a in stored)


def execute(plan: ComparePlan, jobs: int = 1,
            on_done: Callable[[RunUnit, str], None] | None = None) -> dict[str, int]:
    """Run every unit of ``plan`` (in ``jobs`` processes); count of each outcome.

    Raises:
        MetasearchError: the storage holds runs of this plan made under another split
            (:func:`check_stored`).
    """
    counts: dict[str, int] = {}
    if plan.storage.startswith(("postgresql", "mysql", "sqlite")):
        open_storage(plan.storage)  # create Optuna's tables once, before any worker
    unchecked = check_stored(plan)
    if unchecked:
        counts["reused without a recorded split"] = unchecked
    if jobs <= 1:
        for unit in plan.units:
            outcome = run_unit(unit)
            counts[outcome] = counts.get(outcome, 0) + 1
            if on_done is not None:
                on_done(unit, outcome)
        return counts
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                             initializer=_worker_init) as pool:
        futures = {pool.submit(run_unit, unit): unit for unit in plan.units}
        for future in as_completed(futures):
            outcome = future.result()
            counts[outcome] = counts.get(outcome, 0) + 1
            if on_done is not None:
                on_done(futures[future], outcome)
    return counts
