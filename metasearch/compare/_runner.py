"""Running a comparison: the held-out protocol, one Optuna study per (task, method, seed) run.

The protocol, as HPO-B's: a meta-model used on a test task was fitted on training tasks only
(meta-trained here, or loaded and checked against its recorded split); every method gets the
same budget of trials, the same seeds (trial ``n`` of seed ``s`` trains with seed
``s * 10_000 + n`` whatever the method) and nothing of the test task but its meta-features
before the search starts. Values are normalized per task by the best and worst value known
(the warehouse's trials of the task, or its table, merged with every run's values): the
test tasks' stored trials are used for this scaling only, never for fitting.

Each run is a study in one Optuna storage (a journal file under the output folder, or
``--storage`` URL shared by several machines), written when the run is complete, so an
interrupted comparison resumes with the runs it had not finished, and machines that share the
storage split the runs between them: a run is claimed by the first process that starts it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metasearch.compare._methods import METHODS, WarmStart
from metasearch.errors import MetasearchError
from metasearch.names import name_path

__all__ = ["ComparePlan", "RunUnit", "collect_runs", "execute", "known_bounds", "plan_compare"]

CLAIM_SUFFIX = "#claim"
"""A run's claim is a study of its own (``<run>#claim``): creating a study is atomic in every
Optuna storage, so two workers cannot both claim one run."""
SUGGEST_ATTR = "compare:suggest_s"
SEED_STRIDE = 10_000
SOURCE_SEP = "::"
"""Joins a source family and its task in the training ids of ``--transfer-from``."""
QUICK: dict[str, Any] = {
    "budget": 20, "seeds": 3, "n_test": 4,
    "methods": ("metasearch", "no-warmstart", "no-surrogate", "random", "tpe", "ws-tpe",
                "ws-cmaes"),
}
"""``--quick``: the synthetic family, small enough for about two minutes on two cores."""


@dataclass(frozen=True)
class RunUnit:
    """One (task, method, seed) run: everything a worker process needs, picklable."""

    family: str
    task: str
    method: str
    seed: int
    budget: int
    storage: str
    model_dir: str | None
    task_features: dict[str, float] | None
    warm: WarmStart | None
    device: str = "cpu"
    warehouse: str | None = None  # where a family that exists only in the warehouse is read

    @property
    def study_name(self) -> str:
        return f"compare/{self.family}/{self.task}/{self.method}/seed={self.seed}"


@dataclass
class ComparePlan:
    """What a comparison runs, and the protocol it records."""

    family: str
    train: list[str]
    test: list[str]
    methods: list[str]
    seeds: int
    budget: int
    storage: str
    out: Path
    units: list[RunUnit] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)  # test task -> model folder
    meta_train_s: dict[str, float] = field(default_factory=dict)  # model folder -> seconds
    protocol: dict[str, Any] = field(default_factory=dict)
    warehouse: str | None = None


# -- the family searched -----------------------------------------------------------------------

_BENCHMARKS: dict[tuple[str, str | None], Any] = {}


def benchmark_family(name: str, warehouse: str | None) -> Any:
    """The family compare searches: a registered one (its objective), else the stored one.

    A family that exists only in the warehouse runs no new trials: its tasks are replayed
    from the stored table when they share their configurations, else answered by per-task
    surrogates of their stored trials (:func:`metasearch.families.stored_benchmark`). Built
    once per process (every worker builds the same one: seeded, from the same records).
    """
    from metasearch.families import family_names, get_family, stored_benchmark
    from metasearch.warehouse import Warehouse

    if name in family_names():
        return get_family(name)
    key = (name, warehouse)
    if key not in _BENCHMARKS:
        with Warehouse.open(warehouse) as store:
            if not store.has_family(name):
                return get_family(name)  # the registry's error, naming the known families
            _BENCHMARKS[key] = stored_benchmark(store, name)
    return _BENCHMARKS[key]


def objective_protocol(fam: Any, tasks: Sequence[str]) -> dict[str, Any]:
    """What answers the searches of ``tasks``, for the report: the family's own objective, a
    replay of the stored table, or per-task surrogates with their cross-validated fit."""
    from metasearch.families import ReplayFamily, SurrogateFamily
    from metasearch.families._surrogate import FOLDS, TREES

    if isinstance(fam, SurrogateFamily):
        fits = {t: fam.fit(t).to_dict() for t in tasks}
        return {
            "kind": "surrogate",
            "description": (f"each test task is searched on a random forest ({TREES} trees) "
                            "fitted to that task's stored trials, on the space's encoding (as "
                            "HPO-B's continuous variant); its fit is the out-of-fold Spearman "
                            f"and R^2 of {FOLDS}-fold cross-validation on those trials"),
            "mean_spearman": round(float(np.mean([f["spearman"] for f in fits.values()])), 4),
            "mean_r2": round(float(np.mean([f["r2"] for f in fits.values()])), 4),
            "fit": fits,
        }
    if isinstance(fam, ReplayFamily):
        return {"kind": "replay", "description": "the tasks share their configurations: each "
                "search replays the stored table (a suggestion answered by the nearest stored "
                "configuration)"}
    return {"kind": "objective", "description": f"the {fam.name} family's own evaluation"}


# -- planning ----------------------------------------------------------------------------------

def _family_tasks(store: Any, family: str) -> list[str]:
    if not store.has_family(family):
        raise MetasearchError(
            f"family {family!r} has no data in warehouse {store.url}: fill it first "
            f"(`metasearch warehouse build --family {family}` or `warehouse import`)")
    return sorted(t.name for t in store.tasks(family))


def choose_tasks(stored: Sequence[str], registered: Sequence[str], train: Sequence[str] | None,
                 test: Sequence[str] | None, seed: int, n_test: int | None = None
                 ) -> tuple[list[str], list[str]]:
    """The train and test tasks: as given, else a seeded split of the stored tasks.

    Test tasks must be tasks of the family (they are searched); train tasks must be in the
    warehouse (they are learned from). With only ``test`` given, every other stored task is a
    training task; with neither, a seeded 20% of the stored tasks (at least one) are held out.

    Raises:
        MetasearchError: unknown tasks, or a task in both lists.
    """
    unknown_test = sorted(set(test or ()) - set(registered))
    if unknown_test:
        raise MetasearchError(f"test tasks {unknown_test} are not tasks of the family")
    unknown_train = sorted(set(train or ()) - set(stored))
    if unknown_train:
        raise MetasearchError(f"train tasks {unknown_train} have no trials in the warehouse")
    if test is None:
        from metasearch.metamodel import TaskSplit

        pool = sorted(set(stored) & set(registered) - set(train or ()))
        if len(pool) < 2:
            raise MetasearchError("need --test-tasks: fewer than 2 stored tasks to split")
        fraction = (n_test / len(pool)) if n_test else 0.2
        split = TaskSplit.make(pool, seed=seed, validation=0.0, test=fraction)
        test = list(split.test) or [split.train[-1]]
    if train is None:
        train = [t for t in stored if t not in set(test)]
    both = sorted(set(train) & set(test))
    if both:
        raise MetasearchError(f"tasks {both} are both train and test tasks: not held out")
    if not train:
        raise MetasearchError("no training tasks left to meta-train on")
    return sorted(train), sorted(test)


def _training_data(store: Any, family: str, train: Sequence[str]) -> Any:
    """The meta-dataset of ``train``: tasks of ``family``, or ``SOURCE::task`` of another.

    Tasks of other families (``--transfer-from``, same space, checked before) are merged
    under their prefixed ids into one data set of ``family``.
    """
    from metasearch.metamodel import MetaDataset
    from metasearch.metamodel._source import load_dataset

    by_family: dict[str, list[str]] = {}
    for task in train:
        source, sep, name = task.partition(SOURCE_SEP)
        if sep:
            by_family.setdefault(source, []).append(name)
        else:
            by_family.setdefault(family, []).append(task)
    if list(by_family) == [family]:
        return load_dataset(store, family, tasks=by_family[family])
    parts = {f: load_dataset(store, f, tasks=tasks) for f, tasks in by_family.items()}
    first = next(iter(parts.values()))
    histories = {(t if f == family else f"{f}{SOURCE_SEP}{t}"): h
                 for f, data in parts.items() for t, h in data.tasks.items()}
    return MetaDataset(family, first.space, first.direction,
                       max(d.max_budget for d in parts.values()), histories)


def _check_sources(store: Any, family: Any, sources: Sequence[str]) -> list[str]:
    """The ``--transfer-from`` families, refused unless stored with the same space."""
    out = []
    for name in sources:
        if name == family.name:
            raise MetasearchError(f"--transfer-from {name}: that is the family being compared "
                                  "(leave it out)")
        _family_tasks(store, name)
        record = store.family(name)
        if record.fingerprint != family.space.fingerprint():
            raise MetasearchError(
                f"--transfer-from {name}: its search space differs from {family.name!r}'s "
                f"(fingerprints {record.fingerprint[:12]} and "
                f"{family.space.fingerprint()[:12]}); a meta-model transfers only within one "
                "space")
        if record.direction != family.direction or (record.max_budget or 0) != \
                family.max_budget:
            raise MetasearchError(
                f"--transfer-from {name}: it {record.direction}s over {record.max_budget} "
                f"steps, {family.name!r} {family.direction}s over {family.max_budget}")
        out.append(name)
    return out


def _train_model(store: Any, family: str, train: Sequence[str], folder: Path, seed: int,
                 device: str) -> tuple[str, float]:
    """Meta-train on ``train`` (15% of them validate) and save; reuse a folder fitted alike."""
    from metasearch.metamodel import MetaModel, TaskSplit
    from metasearch.metamodel._source import warehouse_snapshot

    if (folder / "metadata.json").exists():
        try:
            old = MetaModel.load(folder)
            if sorted(old.split.seen) == sorted(train) and old.info.get("seed") == seed:
                return str(folder), float(old.info.get("total_seconds", 0.0))
        except MetasearchError:
            pass  # a corrupt or partial model: fit it again
    start = time.perf_counter()
    data = _training_data(store, family, train)
    # Too few tasks to hold some out for early stopping: fit on all of them.
    split = (TaskSplit.make(list(train), seed=seed, validation=0.15, test=0.0)
             if len(train) >= 4 else TaskSplit(train=tuple(sorted(train))))
    # Every component the data can feed (curves need two steps or more; see MetaModel.train).
    model = MetaModel.train(data, split, seed=seed, device=device)
    seconds = time.perf_counter() - start
    owners = sorted({t.partition(SOURCE_SEP)[0] if SOURCE_SEP in t else family for t in train})
    snapshot = (warehouse_snapshot(store, owners[0]) if owners == [family]
                else {owner: warehouse_snapshot(store, owner) for owner in owners})
    model.info.update({"warehouse": snapshot, "seed": seed,
                       "total_seconds": seconds, "device": device})
    model.save(folder)
    return str(folder), seconds


def _check_loaded(model_dir: Path, family: Any, test: Sequence[str]) -> tuple[str, float]:
    """A given model folder, refused unless it is of ``family`` (its name and space) and held
    every test task out.

    Raises:
        ModelError: a missing or corrupt model, or one of another family or space.
        MetasearchError: a model that saw a test task.
    """
    from metasearch.errors import ModelError
    from metasearch.metamodel import MetaModel

    model = MetaModel.load(model_dir, family.space)
    if model.family != family.name:
        raise ModelError(f"--model {model_dir} is a model of family {model.family!r}, "
                         f"not {family.name!r}")
    model.split.check_held_out(test)
    return str(model_dir), float(model.info.get("total_seconds", 0.0))


def _warm_start(store: Any, family: str, model_dir: str, train: Sequence[str],
                features: Mapping[str, float] | None, direction: str) -> WarmStart:
    """The most similar training task (by the model's similarity) and its trials."""
    from metasearch.metamodel import TaskContext
    from metasearch.samplers._suggest import _similarity

    model = _model(model_dir)  # loaded once per folder and process
    assert model is not None
    similarity = _similarity(model)
    chosen = sorted(train)[0]
    if similarity is not None:
        weights = similarity.weights(TaskContext(meta_features=features))
        ids = list(similarity.task_ids)
        ranked = [ids[i] for i in np.argsort(-weights, kind="stable") if ids[i] in set(train)]
        chosen = ranked[0] if ranked else chosen
    space = model.space
    owner, sep, name = chosen.partition(SOURCE_SEP)
    trials = store.trials(owner, tasks=[name]) if sep else store.trials(family, tasks=[chosen])
    done = trials[(trials["status"] == "complete") & trials["final_value"].notna()]
    done = done.sort_values("final_value", ascending=direction == "minimize")
    flat = [space.flatten(space.validate(c)) for c in done["config"]]
    values = done["final_value"].astype(float).tolist()
    source = list(zip(flat, values, strict=True))[:500]
    best: list[dict[str, Any]] = []
    for params in flat:
        if params not in best:
            best.append(params)
        if len(best) == 5:
            break
    return WarmStart(chosen, best, source)


def plan_compare(
    *,
    family: str,
    warehouse: str | None,
    out: Path,
    train: Sequence[str] | None = None,
    test: Sequence[str] | None = None,
    leave_one_out: bool = False,
    methods: Sequence[str] | None = None,
    seeds: int = 10,
    budget: int = 50,
    storage: str | None = None,
    model: Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    n_test: int | None = None,
    transfer_from: Sequence[str] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> ComparePlan:
    """Check the protocol, meta-train what is needed, and list the runs.

    Raises:
        MetasearchError: an unknown family, task or method, a split that leaks a test task
            into training, a given model that saw a test task, or a family without data.
    """
    from metasearch.warehouse import Warehouse

    say = on_status or (lambda text: None)
    fam = benchmark_family(family, warehouse)
    chosen_methods = list(methods) if methods else list(METHODS)
    unknown = [m for m in chosen_methods if m not in METHODS]
    if unknown:
        raise MetasearchError(f"unknown methods {unknown}: expected some of "
                              f"{', '.join(METHODS)}")
    if seeds < 1 or budget < 1:
        raise MetasearchError(f"--seeds and --budget must be >= 1, got {seeds} and {budget}")
    if leave_one_out and (train or test or model):
        raise MetasearchError("--leave-one-out chooses the splits itself: drop --train-tasks, "
                              "--test-tasks and --model")
    if transfer_from and (leave_one_out or train or model):
        raise MetasearchError("--transfer-from meta-trains on the other families' tasks: drop "
                              "--leave-one-out, --train-tasks and --model")
    out.mkdir(parents=True, exist_ok=True)
    the_storage = storage or f"journal:{out / 'studies.journal'}"
    with Warehouse.open(warehouse) as store:
        registered = fam.task_ids()
        if transfer_from:
            sources = _check_sources(store, fam, transfer_from)
            unknown_test = sorted(set(test or ()) - set(registered))
            if unknown_test:
                raise MetasearchError(f"test tasks {unknown_test} are not tasks of the family")
            test_tasks = sorted(test) if test else sorted(registered)
            train_tasks = [f"{b}{SOURCE_SEP}{t}" for b in sources for t in _family_tasks(store, b)]
        elif leave_one_out:
            stored = _family_tasks(store, family)
            train_tasks = stored
            test_tasks = sorted(set(stored) & set(registered))
        else:
            stored = _family_tasks(store, family)
            train_tasks, test_tasks = choose_tasks(stored, registered, train, test, seed, n_test)
        plan = ComparePlan(family, train_tasks, test_tasks, chosen_methods, seeds, budget,
                           the_storage, out, warehouse=warehouse)
        objective = objective_protocol(fam, test_tasks)
        if objective["kind"] != "objective":
            say(f"{family} exists only in the warehouse: {objective['description']}"
                + (f"; mean held-out fit Spearman {objective['mean_spearman']:.3f}, "
                   f"R^2 {objective['mean_r2']:.3f}" if objective["kind"] == "surrogate"
                   else ""))
        needs_model = any(METHODS[m].uses_model for m in chosen_methods)
        if needs_model and model is not None:
            folder, secs = _check_loaded(model, fam, test_tasks)
            plan.models = dict.fromkeys(test_tasks, folder)
            plan.meta_train_s[folder] = secs
        elif needs_model and leave_one_out:
            for task_id in test_tasks:
                fit_on = [t for t in train_tasks if t != task_id]
                say(f"meta-training without {task_id} ({len(fit_on)} tasks)")
                target = name_path(out / "models", f"without-{task_id}", kind="task")
                folder, secs = _train_model(store, family, fit_on, target, seed, device)
                plan.models[task_id] = folder
                plan.meta_train_s[folder] = secs
        elif needs_model:  # one model: no test task is among the training tasks
            say(f"meta-training on {len(train_tasks)} training tasks")
            folder, secs = _train_model(store, family, train_tasks, out / "models" / "shared",
                                        seed, device)
            plan.models = dict.fromkeys(test_tasks, folder)
            plan.meta_train_s[folder] = secs
        for task_id in test_tasks:
            features = dict(fam.task(task_id).meta_features) or None
            warm = None
            if any(METHODS[m].group == "warm-start" for m in chosen_methods):
                warm = _warm_start(store, family, plan.models[task_id],
                                   [t for t in train_tasks if t != task_id], features,
                                   fam.direction)
            for method in chosen_methods:
                for s in range(seeds):
                    plan.units.append(RunUnit(
                        family, task_id, method, s, budget, the_storage,
                        plan.models.get(task_id) if METHODS[method].uses_model else None,
                        features, warm if METHODS[method].group == "warm-start" else None,
                        device, warehouse))
    plan.protocol = {
        "family": family, "train_tasks": train_tasks, "test_tasks": test_tasks,
        "leave_one_out": leave_one_out, "transfer_from": list(transfer_from or []),
        "methods": chosen_methods,
        "method_descriptions": {m: METHODS[m].description for m in chosen_methods},
        "seeds": seeds, "budget": budget, "storage": the_storage,
        "models": sorted(set(plan.models.values())),
        "model_given": str(model) if model else None,
        "objective": objective,
    }
    return plan


# -- executing ---------------------------------------------------------------------------------

def open_storage(url: str) -> Any:
    """An Optuna storage: ``journal:PATH`` is a journal file (multi-process safe), else RDB.

    Optuna creates an RDB's tables on first use and fails when several processes do so at
    once; a compare started on several machines together retries until they exist.
    """
    import optuna

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


_MODELS: dict[str, Any] = {}


def _model(folder: str | None) -> Any | None:
    if folder is None:
        return None
    if folder not in _MODELS:
        from metasearch.metamodel import MetaModel

        _MODELS[folder] = MetaModel.load(folder)
    return _MODELS[folder]


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
    import optuna

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


def run_unit(unit: RunUnit) -> str:
    """Run one run to its budget unless it is done; ``done``, ``ran`` or ``elsewhere``.

    The run's trials are searched in memory and written to the storage in one go at the end:
    a pruner reads the study at every reported epoch, and on a shared file or database that
    costs more than the trial. A run cut short before its trials were written is run again
    from its first trial (same seeds, so the same result); one whose writing was cut short
    is deleted and run again.
    """
    import optuna

    from metasearch.compare._methods import TimedSampler, build_method
    from metasearch.samplers import TaskObjective

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

    sampler, pruner, enqueue = build_method(
        unit.method, model=_model(unit.model_dir), space=task.family.space,
        max_budget=task.family.max_budget, task_features=unit.task_features, seed=unit.seed,
        warm=unit.warm)
    timed = TimedSampler(sampler)
    study = optuna.create_study(sampler=timed, pruner=pruner or optuna.pruners.NopPruner(),
                                direction=direction)
    for params in enqueue:
        study.enqueue_trial(params, skip_if_exists=True)
    objective = TaskObjective(task, device=unit.device, seed=unit.seed * SEED_STRIDE)
    study.optimize(objective, n_trials=unit.budget)
    stored.add_trials(finished_trials(study))
    stored.set_user_attr(SUGGEST_ATTR, timed.seconds)
    return "ran"


def execute(plan: ComparePlan, jobs: int = 1,
            on_done: Callable[[RunUnit, str], None] | None = None) -> dict[str, int]:
    """Run every unit of ``plan`` (in ``jobs`` processes); count of each outcome."""
    counts: dict[str, int] = {}
    if plan.storage.startswith(("postgresql", "mysql", "sqlite")):
        open_storage(plan.storage)  # create Optuna's tables once, before any worker
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


# -- collecting --------------------------------------------------------------------------------

def known_bounds(store: Any, family: str, tasks: Sequence[str],
                 warehouse: str | None = None) -> pd.DataFrame:
    """Best and worst complete final value per task from the warehouse (and tabular tables).

    ``warehouse`` is where a family that exists only in the warehouse is read (the plan's).
    """
    from metasearch.families._tabular import TabularTask

    fam = benchmark_family(family, warehouse)
    sign = 1.0 if fam.direction == "maximize" else -1.0
    rows: dict[str, dict[str, float]] = {}
    if store.has_family(family):
        stored = {x.name for x in store.tasks(family)}
        trials = store.trials(family, tasks=[t for t in tasks if t in stored])
        done = trials[(trials["status"] == "complete") & trials["final_value"].notna()]
        for task, values in done.groupby("task")["final_value"]:
            v = values.to_numpy(dtype=np.float64)
            rows[str(task)] = {"best": float((sign * v).max() * sign),
                               "worst": float((sign * v).min() * sign)}
    for task_id in tasks:
        task = fam.task(task_id)
        if isinstance(task, TabularTask):
            table = task.table
            finals = table.curves[~table.failed, -1]
            finals = finals[np.isfinite(finals)]
            if len(finals):
                old = rows.get(task_id)
                best, worst = (sign * finals).max() * sign, (sign * finals).min() * sign
                if old is not None:
                    best = max(best * sign, old["best"] * sign) * sign
                    worst = min(worst * sign, old["worst"] * sign) * sign
                rows[task_id] = {"best": float(best), "worst": float(worst)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["best", "worst"])


def collect_runs(plan: ComparePlan, bounds: pd.DataFrame | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The ``runs`` and ``costs`` tables of every finished run, and how many are unfinished."""
    import optuna
    from optuna.trial import TrialState

    from metasearch.compare import add_regret, task_bounds

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
            cost = trial.user_attrs.get("cost_s")
            if state == "pruned":
                saved += fam.max_budget - len(trial.intermediate_values)
                if cost is None and trial.datetime_start and trial.datetime_complete:
                    cost = (trial.datetime_complete - trial.datetime_start).total_seconds()
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
