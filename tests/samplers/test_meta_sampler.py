"""MetaSampler on held-out synthetic tasks: quality, warm start, Optuna contracts, degradation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import cell_tasks
import numpy as np
import optuna
import pytest
from synthetic_data import evaluated_dataset

from metasearch.errors import ModelError
from metasearch.families import get_family
from metasearch.metamodel import MetaModel, TaskContext, TaskSplit
from metasearch.metamodel.surrogates import own_gp
from metasearch.samplers._meta_acquisition import log_expected_improvement
from metasearch.samplers._meta_loading import ColdStartWarning
from metasearch.samplers._meta_pruner import MetaPruner
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.samplers._meta_support import PROPOSAL_ATTR, config_key
from metasearch.samplers._study import make_sampler

FAMILY = get_family("synthetic")
SPACE = FAMILY.space


@cache
def trained() -> MetaModel:
    """Every sampler component, fitted on 24 synthetic tasks (4 validate, 12 held out; ~10 s)."""
    ids = FAMILY.task_ids()
    data = evaluated_dataset(ids[:28], 60, seed=0)
    split = TaskSplit(train=tuple(ids[:24]), validation=tuple(ids[24:28]))
    return MetaModel.train(data, split, kinds=("portfolio", "prior", "surrogate", "rgpe"),
                           seed=0)


HELD_OUT = tuple(get_family("synthetic").task_ids()[28:34])


def objective(task: Any) -> Any:
    """The task's noisy evaluation as an Optuna objective; the noise-free value as user attr."""
    def run(trial: optuna.Trial) -> float:
        config = SPACE.suggest(trial)
        trial.set_user_attr("final_value", task.final_value(config))
        result = task.evaluate(config, device="cpu", seed=0)
        return result.final_value if result.final_value is not None else math.nan

    return run


def regret_curve(task: Any, study: optuna.Study) -> list[float]:
    """Normalized regret of the incumbent after each trial (1 = the task's floor, 0 = optimum)."""
    _, best = task.optimum()
    worst = task.floor
    out, seen = [], worst
    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            seen = max(seen, trial.user_attrs["final_value"])
        out.append((best - seen) / (best - worst))
    return out


def search(task_id: str, sampler: optuna.samplers.BaseSampler, n: int = 10) -> list[float]:
    task = FAMILY.task(task_id)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective(task), n_trials=n, catch=(Exception,))
    return regret_curve(task, study)


def test_held_out_tasks_are_held_out() -> None:
    trained().split.check_held_out(HELD_OUT)


def test_lower_regret_than_tpe_and_random_after_10_trials() -> None:
    methods = {
        "meta": lambda t, s: MetaSampler(trained(), seed=s,
                                         task_features=FAMILY.task(t).meta_features),
        "tpe": lambda t, s: make_sampler("tpe", s),
        "random": lambda t, s: make_sampler("random", s),
    }
    regret = {name: np.array([search(t, make(t, s))[9] for t in HELD_OUT for s in range(3)])
              for name, make in methods.items()}
    print({name: (round(float(r.mean()), 3), round(float(r.std()), 3))
           for name, r in regret.items()})
    assert regret["meta"].mean() < regret["tpe"].mean() - 0.1
    assert regret["meta"].mean() < regret["random"].mean() - 0.1


def test_first_trials_are_the_portfolio() -> None:
    model = trained()
    features = FAMILY.task(HELD_OUT[0]).meta_features
    sampler = MetaSampler(model, seed=0, task_features=features, n_warmstart=4, handover=False)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective(FAMILY.task(HELD_OUT[0])), n_trials=6)
    chosen: Any = model.get("portfolio")
    portfolio = chosen.configs(4, TaskContext(meta_features=features))
    tried = [SPACE.unflatten(t.params) for t in study.trials[:4]]
    assert [SPACE.encode(c).tolist() for c in tried] == \
        [SPACE.encode(c).tolist() for c in portfolio]


def _keys(study: optuna.Study) -> list[tuple[float, ...]]:
    return [config_key(SPACE.encode(SPACE.unflatten(t.params))) for t in study.trials]


@pytest.mark.parametrize("storage", ["memory", "sqlite", "journal"])
def test_no_duplicate_configs_with_two_threads(storage: str, tmp_path: Path) -> None:
    """On a space of 26 networks, where a sampler that forgot what was tried repeats one."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    stores: dict[str, Any] = {
        "memory": lambda: None,
        "sqlite": lambda: RDBStorage(f"sqlite:///{tmp_path / 'study.db'}"),
        "journal": lambda: JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))),
    }
    sampler = MetaSampler(cell_tasks.cell_model().without("surrogate"), seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler,
                                storage=stores[storage]())
    study.optimize(cell_tasks.objective(cell_tasks.HELD_OUT[1]), n_trials=12, n_jobs=2)
    keys = cell_tasks.network_keys(study)
    assert len(keys) == 12 and len(set(keys)) == 12


WORKER = """
import sys, optuna
sys.path.insert(0, sys.argv[5])  # tests/: the cell-only family
import cell_tasks
from metasearch.metamodel import MetaModel
from metasearch.samplers._meta_sampler import MetaSampler
storage, folder, task_id, seed = sys.argv[1:5]
model = MetaModel.load(folder, cell_tasks.SPACE)
study = optuna.load_study(study_name="shared", storage=storage,
                          sampler=MetaSampler(model, seed=int(seed)))
study.optimize(cell_tasks.objective(task_id), n_trials=6)
"""


def test_two_worker_processes_share_an_rdb_storage(tmp_path: Path) -> None:
    """Two processes on one SQLite study of the 26-network space: no network twice."""
    folder = tmp_path / "model"
    cell_tasks.cell_model().without("surrogate").save(folder)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=storage, direction="maximize")
    tests = str(Path(cell_tasks.__file__).parent)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, storage, str(folder),
                                 cell_tasks.HELD_OUT[2], str(seed), tests]) for seed in (1, 2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 12
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    keys = cell_tasks.network_keys(study)
    assert len(set(keys)) == 12, keys


def test_two_samplers_sharing_a_storage_never_propose_one_network_twice(tmp_path: Path) -> None:
    """Two sampler instances (two locks, as two processes) on one journal, at the same time.

    Both read the same trials and, on 26 networks, their acquisitions agree; each must see
    the other's claim once written and choose again.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    optuna.create_study(study_name="shared", storage=storage, direction="maximize")
    model = cell_tasks.cell_model()

    def worker(seed: int) -> None:
        study = optuna.load_study(study_name="shared", storage=storage,
                                  sampler=MetaSampler(model, seed=seed, n_warmstart=2))
        study.optimize(cell_tasks.objective(cell_tasks.HELD_OUT[0]), n_trials=7)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = cell_tasks.network_keys(optuna.load_study(study_name="shared", storage=storage))
    assert len(keys) == 14 and len(set(keys)) == 14


def test_enqueued_trials_are_evaluated_as_enqueued() -> None:
    full = SPACE.flatten(SPACE.sample(np.random.default_rng(5)))
    study = optuna.create_study(direction="maximize", sampler=MetaSampler(trained(), seed=0))
    study.enqueue_trial(full)
    study.enqueue_trial({"lr": 0.0123, "optimizer": "sgd"})
    study.optimize(objective(FAMILY.task(HELD_OUT[3])), n_trials=3)
    assert study.trials[0].params == full
    partial = study.trials[1].params
    assert partial["lr"] == 0.0123 and partial["optimizer"] == "sgd" and "momentum" in partial
    SPACE.unflatten(partial)  # a valid configuration of the space


class Spy(optuna.samplers.RandomSampler):
    """A fallback that records which parameters it was asked for."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.asked: list[str] = []

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: Any) -> Any:
        self.asked.append(param_name)
        return super().sample_independent(study, trial, param_name, param_distribution)


def test_parameters_outside_the_space_come_from_the_fallback() -> None:
    spy = Spy()
    study = optuna.create_study(direction="maximize",
                                sampler=MetaSampler(trained(), seed=0, fallback=spy))
    task: Any = FAMILY.task(HELD_OUT[4])

    def run(trial: optuna.Trial) -> float:
        extra = trial.suggest_float("extra", -1.0, 1.0)
        return task.final_value(SPACE.suggest(trial)) - 0.01 * extra**2

    study.optimize(run, n_trials=7)
    assert spy.asked.count("extra") == 7
    assert set(spy.asked) == {"extra"}  # the model proposed every parameter of its space


def test_failed_and_pruned_trials_are_handled() -> None:
    """Failed and pruned trials count as tried (on the finite cell space, so it shows)."""
    study = optuna.create_study(direction="maximize",
                                sampler=MetaSampler(cell_tasks.cell_model(), seed=0))
    task: Any = cell_tasks.FAMILY.task(cell_tasks.HELD_OUT[2])

    def run(trial: optuna.Trial) -> float:
        value = task.final_value(cell_tasks.SPACE.suggest(trial))
        if trial.number % 3 == 1:
            raise optuna.TrialPruned()
        if trial.number % 3 == 2:
            raise RuntimeError("diverged")
        return value

    study.optimize(run, n_trials=12, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) == 4
    assert states.count(optuna.trial.TrialState.FAIL) == 4
    assert len(set(cell_tasks.network_keys(study))) == 12


def test_multi_objective_is_refused() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=MetaSampler(trained()))
    with pytest.raises(ValueError, match="multi-objective"):
        study.optimize(lambda t: (t.suggest_float("lr", 1e-5, 1.0, log=True), 0.0),
                       n_trials=1)


def test_unknown_family_cold_starts_with_a_warning() -> None:
    with pytest.warns(ColdStartWarning, match="nope"):
        sampler = MetaSampler.from_warehouse(family="nope", seed=0)
    assert sampler.model is None
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective(FAMILY.task(HELD_OUT[0])), n_trials=3)
    assert len(study.trials) == 3


def test_a_named_model_that_cannot_be_used_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"metadata\.json is missing"):
        MetaSampler.from_warehouse(tmp_path / "w.db", family="synthetic",
                                   model=tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text(json.dumps({"not": "a model"}))
    with pytest.raises(ModelError, match="broken"):
        MetaSampler.from_warehouse(family="synthetic", model=broken)
    trained().save(tmp_path / "other")
    with pytest.raises(ModelError, match="not this space"):
        MetaPruner.from_warehouse(family="tabular-mlp", model=tmp_path / "other")
    with pytest.raises(ModelError, match="trained for space"):
        MetaSampler.from_warehouse(family="tabular-mlp", model=trained())


def test_a_corrupt_default_model_cold_starts(tmp_path: Path) -> None:
    broken = tmp_path / "models" / "synthetic"
    broken.mkdir(parents=True)
    (broken / "metadata.json").write_text(json.dumps({"not": "a model"}))
    with pytest.warns(ColdStartWarning, match="cannot be used"):
        assert MetaSampler.from_warehouse(tmp_path / "w.db", family="synthetic").model is None


def test_from_warehouse_serves_a_family_that_exists_only_in_the_warehouse(
        tmp_path: Path) -> None:
    from plain_history import FAMILY, history_warehouse

    from metasearch.metamodel._source import load_dataset
    from metasearch.warehouse import Warehouse

    where = history_warehouse(tmp_path, n_tasks=3, n_trials=8)
    with Warehouse.open(where) as store:
        data = load_dataset(store, FAMILY)
    model = MetaModel.train(data, TaskSplit(train=("ds0", "ds1"), test=("ds2",)),
                            kinds=("portfolio", "prior"))
    model.save(tmp_path / "models" / FAMILY)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColdStartWarning)
        sampler = MetaSampler.from_warehouse(where, family=FAMILY, seed=0)
        pruner = MetaPruner.from_warehouse(where, family=FAMILY)
    assert sampler.model is not None and sampler.model.family == FAMILY
    assert pruner.model is not None
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(lambda t: sum(float(v) for v in (t.suggest_float("lr", 1e-4, 1e-1, log=True),
                                                    t.suggest_int("depth", 1, 10))), n_trials=2)
    first = model.get("portfolio").configs(1)[0]
    assert study.trials[0].params["depth"] == first["depth"]


def test_from_warehouse_loads_a_saved_model(tmp_path: Path) -> None:
    trained().without("surrogate").save(tmp_path / "models" / "synthetic")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColdStartWarning)
        sampler = MetaSampler.from_warehouse(tmp_path / "warehouse.db", family="synthetic")
    assert sampler.model is not None and sampler.model.get("portfolio") is not None


def _proposals(sampler: MetaSampler, n: int) -> list[dict[str, Any]]:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective(FAMILY.task(HELD_OUT[0])), n_trials=n)
    return [t.params for t in study.trials]


def test_seeded_runs_repeat_and_reseeding_changes_them() -> None:
    model = trained().without("surrogate", "portfolio")
    first = _proposals(MetaSampler(model, seed=3), 3)
    assert _proposals(MetaSampler(model, seed=3), 3) == first
    reseeded = MetaSampler(model, seed=3)
    reseeded.reseed_rng()
    assert _proposals(reseeded, 3) != first


@pytest.mark.parametrize("off", [(), ("portfolio",), ("portfolio", "surrogate"),
                                 ("portfolio", "prior", "surrogate"),
                                 ("portfolio", "surrogate", "rgpe")])
def test_every_ablation_searches_without_repeats(off: tuple[str, ...]) -> None:
    """Whatever component proposes, a tried network is not proposed again (12 of 26)."""
    sampler = MetaSampler(cell_tasks.cell_model().without(*off), seed=0, n_warmstart=2)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(cell_tasks.objective(cell_tasks.HELD_OUT[1]), n_trials=12)
    assert len(set(cell_tasks.network_keys(study))) == 12


def test_with_every_component_off_the_fallback_samples() -> None:
    """Nothing learned to propose from: every trial is the fallback's, as a cold start."""
    off = ("portfolio", "prior", "surrogate", "rgpe")
    spy = Spy()
    sampler = MetaSampler(trained().without(*off), seed=0, n_warmstart=2, fallback=spy)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    task: Any = FAMILY.task(HELD_OUT[1])
    study.optimize(lambda t: -task.final_value(SPACE.suggest(t)), n_trials=5)
    assert len(study.trials) == 5
    assert all(PROPOSAL_ATTR not in t.system_attrs for t in study.trials)
    assert {name for t in study.trials for name in t.params} <= set(spy.asked)


def test_a_fixed_value_outside_the_model_space_is_kept() -> None:
    study = optuna.create_study(direction="maximize", sampler=MetaSampler(trained(), seed=0))
    study.enqueue_trial({"width": 4096})
    study.optimize(lambda t: float(t.suggest_int("width", 8, 8192, log=True)
                                   + t.suggest_float("lr", 1e-5, 1.0, log=True)), n_trials=2)
    assert study.trials[0].params["width"] == 4096


def test_the_sampler_pickles() -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(MetaSampler(trained().without("surrogate"), seed=1)))
    assert copy.model is not None
    study = optuna.create_study(direction="maximize", sampler=copy)
    study.optimize(objective(FAMILY.task(HELD_OUT[0])), n_trials=2, n_jobs=2)


def _stalled_or_not(explore: bool, rising: bool, seed: int = 0, n: int = 26,
                    choices: list[dict[str, Any]] | None = None
                    ) -> tuple[dict[str, Any], optuna.Study]:
    """The next proposal after ``n`` trials (26: two per parameter of the space, and two more)
    whose values rise to the last (every trial a gain) or fall from the first (``n - 1``
    trials without one); and the study it was made on."""
    rng = np.random.default_rng(0)
    configs = [SPACE.sample(rng) for _ in range(n)]
    values = sorted(rng.random(n).tolist(), reverse=not rising)
    study = optuna.create_study(direction="maximize",
                                sampler=MetaSampler(trained(), seed=seed, explore=explore,
                                                    choices=choices))
    dists = SPACE.distributions()
    for config, value in zip(configs, values, strict=True):
        flat = SPACE.flatten(config)
        study.add_trial(optuna.trial.create_trial(
            params=flat, distributions={k: dists[k] for k in flat}, value=value))
    study.optimize(lambda t: float(len(SPACE.suggest(t))), n_trials=1)
    return study.trials[-1].params, study


def test_the_study_s_own_gp_proposes_only_once_the_search_stalls() -> None:
    """While every trial improves the best, or with fewer trials than two per parameter,
    turning the stall rule off changes nothing. After 25 trials without a gain, some seeds'
    proposals are the own GP's (the blend's coin), and each of those is one that GP (in the
    values' units) ranks above the transfer's proposal by expected improvement; the others
    are the transfer's own."""
    assert _stalled_or_not(True, rising=True)[0] == _stalled_or_not(False, rising=True)[0]
    for seed in range(3):  # stalled, but 14 trials are too few for a GP of 12 parameters
        assert _stalled_or_not(True, rising=False, seed=seed, n=14)[0] == \
            _stalled_or_not(False, rising=False, seed=seed, n=14)[0]
    turns = 0
    for seed in range(6):
        own, study = _stalled_or_not(True, rising=False, seed=seed)
        transfer, _ = _stalled_or_not(False, rising=False, seed=seed)
        if own == transfer:
            continue
        turns += 1
        seen = study.trials[:-1]
        context = TaskContext(x=SPACE.encode_many([SPACE.unflatten(t.params) for t in seen]),
                              scores=np.array([t.value for t in seen]))
        gp = own_gp(context, SPACE.encoding_length)
        assert gp is not None
        mean, std = gp.predict(SPACE.encode_many([SPACE.unflatten(own),
                                                  SPACE.unflatten(transfer)]))
        ei = log_expected_improvement(mean, std, float(np.max(gp.predict(gp.x)[0])))
        assert ei[0] > ei[1]
    assert turns > 0


def test_a_finite_space_never_hands_a_stalled_search_to_the_own_gp() -> None:
    """On a table (``choices``) the acquisition ranks every untried row, and the stall rule
    stays off: the same proposals with and without it, for the seeds whose proposals it
    changes on the continuous space."""
    rng = np.random.default_rng(1)
    table = [SPACE.sample(rng) for _ in range(60)]
    for seed in range(6):
        assert _stalled_or_not(True, rising=False, seed=seed, choices=table)[0] == \
            _stalled_or_not(False, rising=False, seed=seed, choices=table)[0]
