"""A small synthetic comparison: three methods, four tasks, three seeds, 20 trials each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasearch.compare import add_regret, task_bounds

METHODS = {"metasearch": 0.3, "tpe": 0.15, "random": 0.08}  # how fast each closes the gap


def synthetic_runs(budget: int = 20, n_tasks: int = 4, n_seeds: int = 3) -> pd.DataFrame:
    """Accuracy-like values (maximize) that approach each task's optimum at a method's rate,
    with noise, and about one failed trial in ten."""
    rng = np.random.default_rng(7)
    rows = []
    for t in range(n_tasks):
        for method, rate in METHODS.items():
            for seed in range(n_seeds):
                trial = np.arange(1, budget + 1)
                value = 0.9 - 0.5 * np.exp(-rate * trial) * rng.uniform(0.5, 1.5, budget)
                state = np.where(rng.uniform(size=budget) < 0.1, "failed", "complete")
                for i in range(budget):
                    rows.append({"family": "toy", "task": f"task{t}", "method": method,
                                 "seed": seed, "trial": int(trial[i]),
                                 "value": value[i] if state[i] == "complete" else np.nan,
                                 "state": state[i], "cost_s": 0.5 + 0.1 * i})
    runs = pd.DataFrame(rows)
    return add_regret(runs, task_bounds(runs, "maximize"))


def synthetic_costs(runs: pd.DataFrame) -> pd.DataFrame:
    keys = runs[["method", "task", "seed"]].drop_duplicates().reset_index(drop=True)
    meta = keys["method"].eq("metasearch")
    return keys.assign(meta_train_s=np.where(meta, 12.0, 0.0), suggest_s_mean=0.01,
                       trial_s_mean=1.5, pruned_epochs_saved=np.where(meta, 30, 0))


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return synthetic_runs()


@pytest.fixture(scope="module")
def costs(runs: pd.DataFrame) -> pd.DataFrame:
    return synthetic_costs(runs)
