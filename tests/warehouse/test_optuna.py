"""Importing real Optuna studies (SQLite RDB and journal storages) into the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from metasearch.errors import WarehouseError
from metasearch.families import family_names, get_family
from metasearch.samplers import TaskObjective, create_task_study
from metasearch.spaces import Categorical, Float, Int
from metasearch.warehouse import (
    Warehouse,
    ingest_optuna,
    ingest_optuna_studies,
    optuna_source_key,
    shared_space,
)

SYN = get_family("synthetic")
optuna.logging.set_verbosity(optuna.logging.ERROR)


def registered(name: str) -> Any:
    return get_family(name) if name in family_names() else None


def metasearch_study(url: str, trials: int = 10) -> optuna.Study:
    """A study run by metasearch's objective: complete, failed and pruned trials."""
    study = create_task_study(
        SYN.task("synthetic-03"), sampler=optuna.samplers.RandomSampler(seed=0), storage=url,
        study_name="ms", pruner=optuna.pruners.ThresholdPruner(lower=0.45, n_warmup_steps=4))
    study.enqueue_trial({"lr": 1.0, "optimizer": "adam"})  # diverges: a failed trial
    best, _ = SYN.task("synthetic-03").optimum()
    study.enqueue_trial(SYN.space.flatten(best))  # learns fast: a complete trial
    study.optimize(TaskObjective(SYN.task("synthetic-03"), budget=8), n_trials=trials)
    return study


def test_a_metasearch_study_round_trips_with_every_state(warehouse: Warehouse,
                                                         tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = metasearch_study(url)
    states = {t.state for t in study.trials}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
    assert study.trials[0].user_attrs["failure_reason"].startswith("training diverged")
    summary, unfinished = ingest_optuna(warehouse, url, "ms", registered=registered)
    assert (summary.added, unfinished, summary.family) == (10, 0, "synthetic")
    assert summary.source_key == optuna_source_key(url, "ms")
    records = {r.number: r for r in warehouse.trial_records("synthetic", tasks=["synthetic-03"])}
    for trial in study.trials:
        stored = records[trial.number]
        failed = "failure_reason" in trial.user_attrs
        assert failed == (trial.state == TrialState.FAIL)
        assert stored.status == {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
                                 TrialState.FAIL: "failed"}[trial.state]
        assert stored.config == trial.user_attrs["metasearch_config"]
        assert dict(zip(stored.steps, stored.curve, strict=True)) == trial.intermediate_values
        assert stored.test_value == trial.user_attrs["test_value"]
        assert stored.seed == trial.user_attrs["seed"]
        if trial.state == TrialState.COMPLETE:
            assert stored.final_value == trial.value
        if failed:
            assert stored.failure_reason == trial.user_attrs["failure_reason"]
    # Re-importing adds nothing; importing after the study ran on adds only the new trials.
    assert ingest_optuna(warehouse, url, "ms", registered=registered)[0].added == 0
    study.optimize(TaskObjective(SYN.task("synthetic-03"), budget=8), n_trials=3)
    again, _ = ingest_optuna(warehouse, url, "ms", registered=registered)
    assert (again.added, again.skipped) == (3, 10)


def test_a_plain_study_is_unflattened_into_the_family_space(warehouse: Warehouse,
                                                            tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    study = optuna.create_study(storage=url, study_name="plain", direction="maximize")
    rng = np.random.default_rng(0)
    for number in range(4):
        study.enqueue_trial(SYN.space.flatten(SYN.space.sample(rng)))
        trial = study.ask()
        SYN.space.suggest(trial)  # plain Optuna parameters: a cell is one per edge
        trial.suggest_int("extra_knob", 0, 9)
        for step in range(3):
            trial.report(0.1 * step + number, step)
        if number == 3:
            continue  # left running
        study.tell(trial, 0.5 + number)
    summary, unfinished = ingest_optuna(warehouse, url, "plain", family="synthetic",
                                        task="my-task", registered=registered)
    assert (summary.added, unfinished) == (3, 1)
    records = warehouse.trial_records("synthetic", tasks=["my-task"])
    for record, trial in zip(records, study.trials, strict=False):
        assert SYN.space.flatten(record.config) == {
            k: v for k, v in trial.params.items() if k != "extra_knob"}
        assert record.attrs["params_outside_space"] == {"extra_knob": trial.params["extra_knob"]}
        assert record.steps == (0, 1, 2) and record.cost_s is not None


def test_an_unregistered_family_gets_the_study_distributions(warehouse: Warehouse,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(storage=storage, study_name="j", direction="minimize")
    study.optimize(lambda t: t.suggest_float("x", 1e-3, 1.0, log=True)
                   + t.suggest_int("n", 1, 8, step=1)
                   + len(t.suggest_categorical("c", ["a", "bb"])), n_trials=5)
    summary, _ = ingest_optuna(warehouse, str(path), "j", family="toy", task="t0")
    assert summary.added == 5
    family = warehouse.family("toy")
    assert (family.source, family.direction) == ("optuna", "minimize")
    assert set(family.space.params) == {Float("x", 1e-3, 1.0, log=True), Int("n", 1, 8),
                                        Categorical("c", ("a", "bb"))}
    assert warehouse.stats("toy")[0].best_value == study.best_value


def test_bad_studies_get_one_error_and_store_nothing(warehouse: Warehouse,
                                                     tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    study = optuna.create_study(storage=url, study_name="cond")
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + (
        t.suggest_float("b", 0, 1) if t.number % 2 else 0), n_trials=4)
    with pytest.raises(WarehouseError, match=r"trial 0 lacks parameter\(s\) \['b'\]"):
        ingest_optuna(warehouse, url, "cond", family="toy", task="t")
    with pytest.raises(WarehouseError, match=r"trial 0: its parameters do not fit"):
        ingest_optuna(warehouse, url, "cond", family="synthetic", task="t",
                      registered=registered)
    with pytest.raises(WarehouseError, match=r"no study 'nope' in .*: it has cond"):
        ingest_optuna(warehouse, url, "nope", family="toy", task="t")
    with pytest.raises(WarehouseError, match="no Optuna storage file"):
        ingest_optuna(warehouse, f"sqlite:///{tmp_path / 'absent.db'}", "x", family="toy")
    with pytest.raises(WarehouseError, match="names no family"):
        ingest_optuna(warehouse, url, "cond")
    optuna.create_study(storage=url, study_name="multi", directions=["minimize", "maximize"])
    with pytest.raises(WarehouseError, match="2 objectives"):
        ingest_optuna(warehouse, url, "multi", family="toy", task="t")
    assert warehouse.counts()["trials"] == 0
    metasearch_study(url, trials=2)
    toy = optuna.create_study(storage=url, study_name="toy-src")  # minimizes
    toy.optimize(lambda t: t.suggest_float("lr", 1e-5, 1.0), n_trials=1)
    ingest_optuna(warehouse, url, "toy-src", family="toy", task="t")
    with pytest.raises(WarehouseError, match=r"'ms' maximizes, but family 'toy' is to minimize"):
        ingest_optuna(warehouse, url, "ms", family="toy", task="t")
    assert warehouse.counts()["trials"] == 1


def _svm_study(url: str, name: str, c_high: float, extra: bool = False, n: int = 4) -> None:
    """A plain study (no metasearch attributes) whose C range and parameters vary by study."""
    study = optuna.create_study(storage=url, study_name=name, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=len(name)))

    def objective(trial: optuna.Trial) -> float:
        c = trial.suggest_float("C", 1e-3, c_high, log=True)
        kernel = trial.suggest_categorical("kernel", ["rbf", "poly"] if extra else ["rbf"])
        for step in range(3):
            trial.report(c / c_high * (step + 1), step)
        if extra:
            trial.suggest_int("degree", 2, 4)
        return c / c_high + (kernel == "rbf")

    study.optimize(objective, n_trials=n)


def test_many_studies_share_one_space_and_reimport_adds_nothing(warehouse: Warehouse,
                                                               tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'many.db'}"
    _svm_study(url, "svm-a", 10.0)
    _svm_study(url, "svm-b", 100.0, extra=True)
    _svm_study(url, "other", 1.0)
    done = ingest_optuna_studies(warehouse, url, ["svm-*"], family="svm")
    assert [(name, s.added, u) for name, s, u in done] == [("svm-a", 4, 0), ("svm-b", 4, 0)]
    record = warehouse.family("svm")
    assert [p.name for p in record.space.params] == ["C", "kernel"]  # degree: not in svm-a
    assert record.space.param("C").high == 100.0  # the widest range
    assert record.space.param("kernel").choices == ("rbf", "poly")
    assert sorted(t.name for t in warehouse.tasks("svm")) == ["svm-a", "svm-b"]
    stored = warehouse.trial_records("svm", tasks=["svm-b"])
    assert all(r.attrs["params_outside_space"].keys() == {"degree"} for r in stored)
    assert all(len(r.curve) == 3 for r in stored)
    again = ingest_optuna_studies(warehouse, url, family="svm")  # every study, "other" too
    assert [(name, s.added, s.skipped) for name, s, _ in again] == [
        ("svm-a", 0, 4), ("svm-b", 0, 4), ("other", 4, 0)]
    with pytest.raises(WarehouseError, match=r"no study matches 'x\*' in .*: it has svm-a"):
        ingest_optuna_studies(warehouse, url, ["x*"], family="svm")


def test_a_parameter_of_two_kinds_is_refused_naming_both_studies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kinds.db'}"
    first = optuna.create_study(storage=url, study_name="s1")
    first.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, log=True), n_trials=2)
    second = optuna.create_study(storage=url, study_name="s2")
    second.optimize(lambda t: t.suggest_float("lr", 0.0, 1.0), n_trials=2)
    with pytest.raises(WarehouseError, match=r"'lr' is log float in study 's1' but float in "
                                             r"study 's2'"):
        shared_space({"s1": first.trials, "s2": second.trials})
    space, dropped = shared_space({"s1": first.trials})
    assert ([p.name for p in space.params], dropped) == (["lr"], [])
