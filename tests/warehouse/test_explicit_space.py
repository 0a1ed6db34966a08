"""A space given explicitly at ingest: how conditional Optuna studies and tables get in."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from metasearch.errors import SpaceError, WarehouseError
from metasearch.spaces import read_space_file, space_from_configspace
from metasearch.warehouse import Warehouse, ingest_optuna

SPACE = space_from_configspace({
    "hyperparameters": [
        {"name": "booster", "type": "categorical", "choices": ["linear", "tree"]},
        {"name": "depth", "type": "uniform_int", "lower": 1, "upper": 12, "log": False},
    ],
    "conditions": [{"child": "depth", "parent": "booster", "type": "EQ", "value": "tree"}],
})


@pytest.fixture
def study_storage(tmp_path: Path) -> str:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: float(t.suggest_int("depth", 1, 12)) if t.suggest_categorical(
        "booster", ["linear", "tree"]) == "tree" else 0.5, n_trials=12)
    assert {len(t.params) for t in study.trials} == {1, 2}
    return storage


def test_a_conditional_study_needs_its_space(study_storage: str, tmp_path: Path) -> None:
    with Warehouse.open(tmp_path / "w.db") as store, \
            pytest.raises(WarehouseError, match="lacks parameter"):
        ingest_optuna(store, study_storage, "s", family="boost")


def test_a_conditional_study_ingested_with_its_space(study_storage: str,
                                                     tmp_path: Path) -> None:
    with Warehouse.open(tmp_path / "w.db") as store:
        summary, _ = ingest_optuna(store, study_storage, "s", family="boost", space=SPACE)
        assert summary.added == 12
        assert store.family("boost").space.fingerprint() == SPACE.fingerprint()
        configs = [json.loads(c) if isinstance(c, str) else c
                   for c in store.trials("boost")["config"]]
        assert all(("depth" in c) == (c["booster"] == "tree") for c in configs)
        other = space_from_configspace({"hyperparameters": [
            {"name": "booster", "type": "categorical", "choices": ["linear", "tree"]}]})
        with pytest.raises(WarehouseError, match="known with space"):
            ingest_optuna(store, study_storage, "s", family="boost", space=other)


def test_a_space_file_in_either_format(tmp_path: Path) -> None:
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(SPACE.to_dict()))
    assert read_space_file(ours) == SPACE
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(SpaceError, match="neither a ConfigSpace JSON"):
        read_space_file(bad)
