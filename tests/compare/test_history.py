"""compare on a family that exists only in the warehouse: a replayed table, or surrogates of
past studies with their held-out fit in the protocol (metasearch.compare)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plain_history import FAMILY, history_warehouse

from metasearch.compare import collect_runs, execute, known_bounds, plan_compare
from metasearch.errors import ModelError
from metasearch.warehouse import Warehouse, ingest_table

ALGORITHMS = ["knn", "svm", "forest", "boost", "ridge"]


def _table_warehouse(folder: Path) -> str:
    """Algorithm-selection results: one categorical column, the same choices on every task."""
    rng = np.random.default_rng(0)
    rows = [{"task": f"set{t}", "trial": i, "step": 1, "algorithm": name,
             "value": float(rng.uniform(0.5, 0.9))}
            for t in range(5) for i, name in enumerate(ALGORITHMS)]
    table = folder / "results.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    where = str(folder / "wh.db")
    with Warehouse.open(where) as store:
        ingest_table(store, table, "algos", direction="maximize")
    return where


def test_a_shared_table_is_replayed(tmp_path: Path) -> None:
    where = _table_warehouse(tmp_path)
    plan = plan_compare(family="algos", warehouse=where, out=tmp_path / "out",
                        test=["set0", "set1"], methods=["random", "tpe"], seeds=2, budget=4)
    assert plan.protocol["objective"]["kind"] == "replay"
    execute(plan)
    with Warehouse.open(where) as store:
        bounds = known_bounds(store, "algos", plan.test, where)
        table = store.trials("algos", tasks=["set0"])
    runs, _, unfinished = collect_runs(plan, bounds)
    assert unfinished == 0 and len(runs) == 2 * 2 * 2 * 4
    replayed = set(runs[runs["task"] == "set0"]["value"].round(12))
    assert replayed <= set(table["final_value"].round(12))  # every value a stored measurement
    assert runs["regret"].between(0.0, 1.0).all()


def test_past_studies_are_searched_on_per_task_surrogates_with_their_fit(
        tmp_path: Path) -> None:
    where = history_warehouse(tmp_path, n_tasks=4, n_trials=20)
    plan = plan_compare(family=FAMILY, warehouse=where, out=tmp_path / "out", test=["ds3"],
                        methods=["random", "tpe"], seeds=2, budget=5)
    objective = plan.protocol["objective"]
    assert objective["kind"] == "surrogate" and set(objective["fit"]) == {"ds3"}
    fit = objective["fit"]["ds3"]
    assert fit["trials"] == 20 and fit["folds"] == 5
    assert fit["spearman"] > 0.5  # a smooth objective: the forest ranks held-out trials well
    execute(plan)
    runs, _, unfinished = collect_runs(plan)
    assert unfinished == 0 and len(runs) == 2 * 2 * 5
    assert runs["value"].notna().all() and runs["regret"].notna().all()


def test_compare_model_of_another_family_is_a_model_error(tmp_path: Path) -> None:
    from metasearch.metamodel import MetaModel, TaskSplit
    from metasearch.metamodel._source import load_dataset

    where = history_warehouse(tmp_path, n_tasks=3, n_trials=6, family="other-model")
    with Warehouse.open(where) as store:
        data = load_dataset(store, "other-model")
    model = MetaModel.train(data, TaskSplit(train=("ds0",)), kinds=("portfolio",))
    model.save(tmp_path / "m")
    (tmp_path / "mine").mkdir()
    history_warehouse(tmp_path / "mine", n_tasks=3, n_trials=6, url=where)
    with pytest.raises(ModelError, match="of family 'other-model', not 'my-model'"):
        plan_compare(family=FAMILY, warehouse=where, out=tmp_path / "out", test=["ds2"],
                     methods=["metasearch"], seeds=1, budget=2, model=tmp_path / "m")
    with pytest.raises(ModelError, match=r"metadata\.json is missing"):
        plan_compare(family=FAMILY, warehouse=where, out=tmp_path / "out", test=["ds2"],
                     methods=["metasearch"], seeds=1, budget=2, model=tmp_path / "none")
