"""A user's own history: plain Optuna studies of an analytic objective, ingested as a family.

Each study is one "data set" (task): the same three parameters, an optimum that moves with
the task, plain ``study.optimize`` with TPE and no intermediate values, as people run them.
The warehouse then holds a family that exists nowhere else (no family file).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import optuna

from metasearch.warehouse import Warehouse, ingest_optuna

FAMILY = "my-model"


def objective(task: int) -> Callable[[optuna.Trial], float]:
    """Task ``task``'s loss: its optimum shifts with the task, shared structure remains."""
    def loss(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        depth = trial.suggest_int("depth", 1, 10)
        criterion = trial.suggest_categorical("criterion", ["gini", "entropy"])
        return ((math.log10(lr) + 2.0 + 0.15 * (task % 4)) ** 2
                + 0.05 * (depth - 4 - task % 3) ** 2 + (0.1 if criterion == "gini" else 0.0))

    return loss


def run_studies(storage: str, n_tasks: int, n_trials: int, seed: int = 0) -> list[str]:
    """``n_tasks`` finished TPE studies ``ds0``, ``ds1``, ... in ``storage``; their names."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = []
    for task in range(n_tasks):
        study = optuna.create_study(study_name=f"ds{task}", storage=storage,
                                    direction="minimize",
                                    sampler=optuna.samplers.TPESampler(seed=seed + task))
        study.optimize(objective(task), n_trials=n_trials)
        names.append(study.study_name)
    return names


def history_warehouse(folder: Path, n_tasks: int = 6, n_trials: int = 20,
                      family: str = FAMILY, url: str | None = None) -> str:
    """A warehouse (SQLite in ``folder``, or ``url``) holding the studies as ``family``."""
    storage = f"sqlite:///{folder / 'studies.db'}"
    names = run_studies(storage, n_tasks, n_trials)
    where = url or str(folder / "wh.db")
    with Warehouse.open(where) as store:
        for name in names:
            ingest_optuna(store, storage, name, family=family, task=name)
    return where
