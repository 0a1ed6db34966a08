"""Conditional spaces end to end: a table whose ``depth`` exists only for ``booster=tree``,
ingested with its space given as a ConfigSpace JSON, meta-trained, searched by MetaSampler on
a held-out task (replayed from the table), with no inactive parameter ever sampled."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
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


def table_configs(seed: int, rest: Callable[[int, np.random.Generator], dict[str, Any]],
                  n: int = 40) -> list[dict[str, Any]]:
    """``n`` rows of a table: a log-uniform ``eta``, and what ``rest(i, rng)`` adds."""
    rng = np.random.default_rng(seed)
    return [{"eta": float(10 ** rng.uniform(-3, 0)), **rest(i, rng)} for i in range(n)]


def configs() -> list[dict[str, Any]]:
    def rest(i: int, rng: np.random.Generator) -> dict[str, Any]:
        return {"booster": "tree", "depth": int(rng.integers(1, 13))} if i % 2 \
            else {"booster": "linear"}

    return table_configs(0, rest)


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


# -- conjunctions and a forbidden clause, end to end ---------------------------------------------

AND_SPACE = {
    "hyperparameters": [
        {"name": "learner", "type": "categorical", "choices": ["linear", "tree"]},
        {"name": "eta", "type": "uniform_float", "lower": 0.001, "upper": 1.0, "log": True},
        {"name": "booster", "type": "categorical", "choices": ["gbtree", "dart"]},
        {"name": "depth", "type": "uniform_int", "lower": 1, "upper": 12, "log": False},
        {"name": "drop", "type": "uniform_float", "lower": 0.0, "upper": 0.5, "log": False},
        {"name": "width", "type": "uniform_int", "lower": 1, "upper": 12, "log": False},
    ],
    "conditions": [
        {"child": "booster", "parent": "learner", "type": "EQ", "value": "tree"},
        {"child": "depth", "type": "AND", "conditions": [
            {"child": "depth", "parent": "learner", "type": "EQ", "value": "tree"},
            {"child": "depth", "parent": "booster", "type": "IN", "values": ["gbtree"]}]},
        {"child": "drop", "parent": "booster", "type": "NEQ", "value": "gbtree"},
        {"child": "width", "parent": "booster", "type": "EQ", "value": "gbtree"},
    ],
    # the table's best configurations (deep, narrow gbtrees: depth 8 or 9, width below depth)
    # are forbidden now: a relation between two parameters, as ConfigSpace 1.x writes it
    "forbiddens": [{"type": "AND", "clauses": [
        {"name": "booster", "type": "EQUALS", "value": "gbtree"},
        {"name": "depth", "type": "IN", "values": [8, 9]}]},
        {"type": "RELATION_GT", "left": "depth", "right": "width"}],
}


def and_configs() -> list[dict[str, Any]]:
    def rest(i: int, rng: np.random.Generator) -> dict[str, Any]:
        if not i % 4:
            return {"learner": "linear"}
        if i % 4 == 3:
            return {"learner": "tree", "booster": "dart", "drop": float(rng.uniform(0, 0.5))}
        depth = int(rng.integers(1, 13))
        return {"learner": "tree", "booster": "gbtree", "depth": depth,
                "width": int(rng.integers(1, 13))}

    return table_configs(1, rest)


def and_score(config: dict[str, Any], task: int) -> float:
    """Narrow gbtrees of depth 8 or 9 win (so the forbidden ones tempt every model)."""
    eta = -0.05 * (math.log10(config["eta"]) + 1.0 + 0.1 * task) ** 2
    if config.get("booster") == "gbtree":
        return 0.9 - 0.03 * abs(config["depth"] - 8.5) - 0.01 * config["width"] + eta
    return 0.6 + eta - (0.1 * config.get("drop", 0.0))


def allowed_and_active(config: dict[str, Any]) -> None:
    """The space's rules, written out by hand: activity of each parameter, and the bans."""
    tree, gbtree = config.get("learner") == "tree", config.get("booster") == "gbtree"
    assert ("booster" in config) == tree, config
    assert ("depth" in config) == ("width" in config) == (tree and gbtree), config
    assert ("drop" in config) == (tree and config.get("booster") == "dart"), config
    assert not (gbtree and config.get("depth") in (8, 9)), config
    assert not (gbtree and config["depth"] > config["width"]), config


def test_conjunctions_and_forbiddens_ingested_trained_and_searched(tmp_path: Path) -> None:
    rows = [{"task": t, "trial": i, "step": 1, "value": and_score(c, k), "config": json.dumps(c)}
            for k, t in enumerate(TASKS) for i, c in enumerate(and_configs())]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "space.json").write_text(json.dumps(AND_SPACE))
    where = str(tmp_path / "w.db")
    ingested = runner.invoke(app, ["warehouse", "ingest-table", str(tmp_path / "runs.csv"),
                                   "-f", "cond-and", "--space", str(tmp_path / "space.json"),
                                   "-w", where, "--json"])
    assert ingested.exit_code == 0, ingested.output
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": TASKS[:4], "validation": [TASKS[4]],
                                 "test": [TASKS[5]]}))
    trained = runner.invoke(app, ["meta-train", "-f", "cond-and", "-w", where, "--split",
                                  str(split), "--components", "portfolio,prior,surrogate"])
    assert trained.exit_code == 0, trained.output
    with Warehouse.open(where) as store:
        assert store.family("cond-and").space.forbidden  # stored with the family
        task = replay_family(store, "cond-and").task(TASKS[5])
        sampler = MetaSampler.from_warehouse(where, family="cond-and", seed=0)
    assert sampler.model is not None
    space = sampler.model.space
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: task.evaluate(space.suggest(t)).final_value or 0.0, n_trials=12)
    proposals = [t.system_attrs.get(PROPOSAL_ATTR) for t in study.trials]
    assert all(p is not None for p in proposals)  # every trial came from the meta-model
    for trial, proposal in zip(study.trials, proposals, strict=True):
        allowed_and_active(trial.params)
        allowed_and_active(proposal)
    depths = {p["depth"] for p in proposals if "depth" in p}
    assert depths & {7, 10}, depths  # drawn to the edge of the ban, never over it
    assert any(p["depth"] == p["width"] for p in proposals if "depth" in p)  # nor this one's
    narrow = task.evaluate(next(c for c in and_configs()  # a row of the table, now forbidden
                                if c.get("depth", 8) not in (8, 9) and c["depth"] > c["width"]))
    assert narrow.status == "failed" and narrow.curve == ()
    assert narrow.failure_reason == "forbidden by the space (depth > width): not run"
