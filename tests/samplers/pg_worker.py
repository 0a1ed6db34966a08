"""One worker of the distributed test: MetaSampler on a shared Optuna study, trials recorded.

The task is one of ``cell_tasks``' finite cell-only family, so that two workers proposing one
network twice shows.

Run as ``python pg_worker.py STORAGE_URL STUDY WAREHOUSE_URL MODEL_DIR TASK N_TRIALS SEED``;
what a user's worker process does on each machine (or GPU) of a distributed search.
"""

from __future__ import annotations

import sys
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the cell-only family
import cell_tasks

from metasearch.metamodel import MetaModel
from metasearch.samplers import MetaSampler, TaskObjective, create_task_study
from metasearch.warehouse import RunSpec, Warehouse, WarehouseRecorder, optuna_source_key


def main() -> None:
    storage, study_name, warehouse, model_dir, task_id, n_trials, seed = sys.argv[1:8]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = cell_tasks.FAMILY.task(task_id)
    model = MetaModel.load(model_dir, task.family.space)
    sampler = MetaSampler(model, task_features=task.meta_features, seed=int(seed))
    study = create_task_study(task, sampler=sampler, storage=storage, study_name=study_name)
    objective = TaskObjective(task, device="cpu", seed=0)
    with Warehouse.open(warehouse) as store:
        run = RunSpec(optuna_source_key(storage, study_name), "run", study=study_name, seed=0,
                      device="cpu", info={"sampler": "meta"})
        objective.hooks.append(WarehouseRecorder(store, task.family, task.id, run,
                                                 meta_features=task.meta_features))
        study.optimize(objective, n_trials=int(n_trials))


if __name__ == "__main__":
    main()
