"""Planning a comparison: the held-out protocol, the models it needs, and the list of runs.

The protocol, as HPO-B's: a meta-model used on a test task was fitted on training tasks only
(meta-trained here, or loaded and checked against its recorded split); every method gets the
same budget of trials, the same seeds and nothing of the test task but its meta-features
before the search starts. A plan is the list of (task, method, seed) runs
(:class:`RunUnit`) that :func:`~metasearch.compare.execute` runs, plus the protocol the report
records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metasearch.compare._protocols import Protocol, make_protocol
from metasearch.compare._train import check_loaded, recorded_test_tasks, train_model, warm_start
from metasearch.errors import MetasearchError
from metasearch.families import (
    ReplayFamily,
    SurrogateFamily,
    family_names,
    get_family,
    stored_benchmark,
)
from metasearch.families._surrogate import FOLDS, TREES
from metasearch.samplers._methods import METHODS
from metasearch.samplers._warm_start import WarmStart
from metasearch.warehouse import Warehouse

__all__ = ["QUICK", "SPLIT_ATTR", "ComparePlan", "RunUnit", "benchmark_family",
           "objective_protocol", "plan_compare", "split_key"]

QUICK: dict[str, Any] = {
    "budget": 20, "seeds": 3, "n_test": 4,
    "methods": ("metasearch", "no-warmstart", "no-surrogate", "random", "tpe", "ws-tpe",
                "ws-cmaes"),
}
"""``--quick``: the synthetic family, small enough for a few minutes on two cores."""

SPLIT_ATTR = "compare:split"
"""A finished run's record of the split it was searched under (:func:`split_key`): a later
comparison may reuse the run (add methods to it, from another version of the code) only
under the same split."""


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
    split: str = ""  # the comparison's split_key, recorded with the finished run

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
    how: Protocol | None = None  # how the tasks were split (the report's record is protocol)
    split: str = ""  # split_key of the comparison, recorded with every run it finishes


# -- the family searched -----------------------------------------------------------------------

_BENCHMARKS: dict[tuple[str, str | None], Any] = {}


def benchmark_family(name: str, warehouse: str | None) -> Any:
    """The family compare searches: a registered one (its objective), else the stored one.

    A family that exists only in the warehouse runs no new trials: its tasks are replayed
    from the stored table when they share their configurations, else answered by per-task
    surrogates of their stored trials (:func:`metasearch.families.stored_benchmark`). Built
    once per process (every worker builds the same one: seeded, from the same records).
    """
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


def split_key(family: str, how: Protocol, train: Sequence[str], test: Sequence[str],
              seed: int, model: Path | None) -> str:
    """A short fingerprint of what a comparison held out and meta-trained on.

    Two comparisons with the same key search their test tasks under the same protocol
    (family, kind of split, training and test tasks, meta-training seed, a given model or
    not), so their runs of one (task, method, seed) are interchangeable and may share one
    storage; budget and seed of a run are in its study (its name, its trial count).
    """
    blob = json.dumps({"family": family, "protocol": type(how).__name__,
                       "train": sorted(train), "test": sorted(test), "seed": seed,
                       "model_given": model is not None}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- planning ----------------------------------------------------------------------------------

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
    say = on_status or (lambda text: None)
    fam = benchmark_family(family, warehouse)
    chosen_methods = _methods(methods)
    if seeds < 1 or budget < 1:
        raise MetasearchError(f"--seeds and --budget must be >= 1, got {seeds} and {budget}")
    recorded = (None if test is not None
                else _recorded_test(model, fam, leave_one_out, transfer_from, say))
    test = recorded or test
    how = make_protocol(train=train, test=test, leave_one_out=leave_one_out,
                        transfer_from=transfer_from, model=model, seed=seed, n_test=n_test)
    out.mkdir(parents=True, exist_ok=True)
    the_storage = storage or f"journal:{out / 'studies.journal'}"
    with Warehouse.open(warehouse) as store:
        train_tasks, test_tasks = how.tasks(store, fam)
        plan = ComparePlan(family, train_tasks, test_tasks, chosen_methods, seeds, budget,
                           the_storage, out, warehouse=warehouse, how=how,
                           split=split_key(family, how, train_tasks, test_tasks, seed, model))
        objective = objective_protocol(fam, test_tasks)
        if objective["kind"] != "objective":
            say(f"{family} exists only in the warehouse: {objective['description']}"
                + (f"; mean held-out fit Spearman {objective['mean_spearman']:.3f}, "
                   f"R^2 {objective['mean_r2']:.3f}" if objective["kind"] == "surrogate"
                   else ""))
        if any(METHODS[m].uses_model for m in chosen_methods):
            _models(plan, store, fam, how, model, seed, device, say)
        _add_units(plan, store, fam, device)
    plan.protocol = {
        "family": family, "train_tasks": train_tasks, "test_tasks": test_tasks,
        "leave_one_out": leave_one_out, "transfer_from": list(transfer_from or []),
        "methods": chosen_methods,
        "method_descriptions": {m: METHODS[m].description for m in chosen_methods},
        "seeds": seeds, "budget": budget, "storage": the_storage,
        "models": sorted(set(plan.models.values())), "split": plan.split,
        "model_given": str(model) if model else None,
        "test_tasks_from_model": recorded is not None,
        "objective": objective,
    }
    return plan


def _recorded_test(model: Path | None, fam: Any, leave_one_out: bool,
                   transfer_from: Sequence[str] | None,
                   say: Callable[[str], None]) -> list[str] | None:
    """The test tasks the given model held out, for a comparison without --test-tasks.

    A model made with ``meta-train --split`` carries its split: searching its own held-out
    tasks spares the user typing them again (and a seeded pick that it saw). None where no
    model is given, another protocol is asked for (it refuses a model), or the model
    recorded no test tasks (then the default split applies and the model is checked on it).
    """
    if model is None or leave_one_out or transfer_from:
        return None
    tasks = recorded_test_tasks(model, fam)
    if not tasks:
        return None
    plural = "" if len(tasks) == 1 else "s"
    say(f"test tasks: the model's held-out split ({len(tasks)} task{plural})")
    return tasks


def _methods(methods: Sequence[str] | None) -> list[str]:
    """The methods asked for (default: every one), refused where one is unknown."""
    chosen = list(methods) if methods else list(METHODS)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise MetasearchError(f"unknown methods {unknown}: expected some of "
                              f"{', '.join(METHODS)}")
    return chosen


def _models(plan: ComparePlan, store: Any, fam: Any, how: Protocol, model: Path | None,
            seed: int, device: str, say: Callable[[str], None]) -> None:
    """Each test task's model: the given one (checked), else what the protocol fits."""
    if model is not None:
        folder, secs = check_loaded(model, fam, plan.test)
        plan.models = dict.fromkeys(plan.test, folder)
        plan.meta_train_s[folder] = secs
        return
    for fit in how.fits(plan.train, plan.test, plan.out):
        say(fit.status)
        folder, secs = train_model(store, plan.family, fit.train, fit.folder, seed, device)
        plan.models.update(dict.fromkeys(fit.test, folder))
        plan.meta_train_s[folder] = secs


def _add_units(plan: ComparePlan, store: Any, fam: Any, device: str) -> None:
    """One run per test task, method and seed; warm starts from each task's nearest one."""
    for task_id in plan.test:
        features = dict(fam.task(task_id).meta_features) or None
        warm = None
        if any(METHODS[m].group == "warm-start" for m in plan.methods):
            warm = warm_start(store, plan.family, plan.models[task_id],
                              [t for t in plan.train if t != task_id], features, fam.direction)
        for method in plan.methods:
            spec = METHODS[method]
            for s in range(plan.seeds):
                plan.units.append(RunUnit(
                    plan.family, task_id, method, s, plan.budget, plan.storage,
                    plan.models.get(task_id) if spec.uses_model else None,
                    features, warm if spec.group == "warm-start" else None,
                    device, plan.warehouse, plan.split))
