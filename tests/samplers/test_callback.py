"""WarehouseCallback records a running study's finished trials, once each, on every backend."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from metasearch import WarehouseCallback
from metasearch.warehouse import Warehouse, ingest_optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_categorical("opt", ["adam", "sgd"])
    for step in range(3):
        trial.report(x * (step + 1), step)
        if x > 0.8 and step == 1:
            raise optuna.TrialPruned()
    if x < 0.1:
        raise ValueError("diverged")
    return x


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "w.db")
    return str(request.getfixturevalue("postgres_schema")())


def test_each_finished_trial_is_recorded_once_with_its_curve(warehouse_url: str,
                                                             tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="svc-iris", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=3))
    callback = WarehouseCallback(warehouse_url, family="svc", storage=storage)
    study.enqueue_trial({"x": 0.05, "opt": "adam"})  # fails
    study.enqueue_trial({"x": 0.9, "opt": "sgd"})  # is pruned
    study.optimize(objective, n_trials=20, callbacks=[callback], catch=(ValueError,))
    states = {t.state for t in study.trials}
    assert states == {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                      optuna.trial.TrialState.FAIL}
    assert callback.recorded == 20
    with Warehouse.open(warehouse_url) as store:
        assert [t.name for t in store.tasks("svc")] == ["svc-iris"]
        assert store.family("svc").direction == "maximize"
        records = {r.number: r for r in store.trial_records("svc")}
        for trial in study.trials:
            stored = records[trial.number]
            assert stored.config == trial.params
            assert list(stored.curve) == [trial.intermediate_values[s]
                                          for s in sorted(trial.intermediate_values)]
            assert stored.status == {"COMPLETE": "complete", "PRUNED": "pruned",
                                     "FAIL": "failed"}[trial.state.name]
        # The same source key as ingest-optuna: importing the study afterwards adds nothing.
        summary, _ = ingest_optuna(store, storage, "svc-iris", family="svc")
        assert (summary.added, summary.skipped) == (0, 20)


def test_a_trial_outside_the_stored_space_is_skipped_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    where = str(tmp_path / "w.db")
    first = optuna.create_study(study_name="a", direction="maximize")
    first.optimize(objective, n_trials=3, callbacks=[WarehouseCallback(where, family="svc")],
                   catch=(ValueError,))
    wider = optuna.create_study(study_name="b", direction="maximize")
    callback = WarehouseCallback(where, family="svc")
    optuna.logging.enable_propagation()
    try:
        wider.optimize(lambda t: t.suggest_float("x", 2.0, 9.0) + len(
            t.suggest_categorical("opt", ["adam"])) + 5, n_trials=2, callbacks=[callback])
    finally:
        optuna.logging.disable_propagation()
    assert callback.recorded == 0 and len(wider.trials) == 2  # the study itself ran on
    assert "trial 0 of study 'b' is not recorded" in caplog.text
    with Warehouse.open(where) as store:
        assert [t.name for t in store.tasks("svc")] == ["a"]
