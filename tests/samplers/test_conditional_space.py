"""Conditional spaces end to end: a table whose ``depth`` exists only for ``booster=tree``,
ingested with its space given as a ConfigSpace JSON, meta-trained, searched by MetaSampler on
a held-out task (replayed from the table), with no inactive parameter ever sampled."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.errors import TableFormatError
from metasearch.families import replay_family
from metasearch.samplers import MetaSampler
from metasearch.samplers._meta_support import PROPOSAL_ATTR
from metasearch.spaces import Condition
from metasearch.warehouse import Warehouse

runner = CliRunner()
FAMILY = "cond-boost"
TASKS = [f"t{i}" for i in range(6)]
CONFIG_SPACE = {
    "hyperparameters": [
        {"name": "booster", "type": "categorical", "choices": ["linear", "tree"]},
        {"name": "eta", "type": "uniform_float", "lower": 0.001, "upper": 1.0, "log": True},
        {"name": "depth", "type": "uniform_int", "lower": 1, "upper": 12, "log": False},
    ],
    "conditions": [{"child": "depth", "parent": "booster", "type": "EQ", "value": "tree"}],
}


def configs(n: int = 40) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        config: dict[str, Any] = {"booster": "tree" if i % 2 else "linear",
                                  "eta": float(10 ** rng.uniform(-3, 0))}
        if config["booster"] == "tree":
            config["depth"] = int(rng.integers(1, 13))
        out.append(config)
    return out


def score(config: dict[str, Any], task: int) -> float:
    """Trees win on odd tasks, linear models on even ones; each task has its own best depth
    and learning rate (so the portfolio holds both boosters)."""
    base = 0.6 + 0.2 * ((config["booster"] == "tree") == bool(task % 2))
    eta = -0.05 * (math.log10(config["eta"]) + 1.0 + 0.2 * task) ** 2
    depth = -0.01 * abs(config.get("depth", 0) - (3 + task)) if "depth" in config else 0.0
    return base + eta + depth


@pytest.fixture
def table(tmp_path: Path) -> tuple[Path, Path]:
    rows = [{"task": t, "trial": i, "step": 1, "value": score(c, k), "config": json.dumps(c)}
            for k, t in enumerate(TASKS) for i, c in enumerate(configs())]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    space = tmp_path / "space.json"
    space.write_text(json.dumps(CONFIG_SPACE))
    return path, space


def test_without_its_space_a_conditional_table_is_refused(table: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    result = runner.invoke(app, ["warehouse", "ingest-table", str(table[0]), "-f", FAMILY,
                                 "-w", str(tmp_path / "w.db")])
    assert isinstance(result.exception, TableFormatError)
    assert "'depth' is empty" in str(result.exception)


def test_ingested_with_its_space_meta_trained_and_searched(table: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    where = str(tmp_path / "w.db")
    ingested = runner.invoke(app, ["warehouse", "ingest-table", str(table[0]), "-f", FAMILY,
                                   "--space", str(table[1]), "-w", where, "--json"])
    assert ingested.exit_code == 0, ingested.output
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": TASKS[:4], "validation": [TASKS[4]],
                                 "test": [TASKS[5]]}))
    trained = runner.invoke(app, ["meta-train", "-f", FAMILY, "-w", where, "--split", str(split),
                                  "--components", "portfolio,prior,surrogate", "--json"])
    assert trained.exit_code == 0, trained.output
    with Warehouse.open(where) as store:
        assert store.family(FAMILY).space.param("depth").condition == \
            Condition("booster", ("tree",))
        task = replay_family(store, FAMILY).task(TASKS[5])
        sampler = MetaSampler.from_warehouse(where, family=FAMILY, seed=0)
    assert sampler.model is not None
    space = sampler.model.space

    def objective(trial: optuna.Trial) -> float:
        value = task.evaluate(space.suggest(trial)).final_value
        assert value is not None
        return value

    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=12)
    proposals = [t.system_attrs.get(PROPOSAL_ATTR) for t in study.trials]
    assert all(p is not None for p in proposals)  # every trial came from the meta-model
    boosters = [t.params["booster"] for t in study.trials]
    assert set(boosters) == {"linear", "tree"}, boosters  # both kinds of proposal checked
    for trial, proposal in zip(study.trials, proposals, strict=True):
        tree = trial.params["booster"] == "tree"
        assert ("depth" in trial.params) == tree, trial.params
        assert ("depth" in proposal) == (proposal["booster"] == "tree"), proposal
