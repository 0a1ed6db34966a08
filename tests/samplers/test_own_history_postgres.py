"""Plain past studies -> a PostgreSQL warehouse and its model -> two workers on one study.

The multi-machine recipe of the README's "From your own past studies": past studies are
ingested into a PostgreSQL warehouse, ``meta-train`` keeps the model inside it, and every
worker builds ``MetaSampler.from_warehouse(URL, family=...)`` with nothing else to copy, while
a ``WarehouseCallback`` records each finished trial of the shared study once.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from plain_history import run_studies
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.warehouse import Warehouse

pytestmark = pytest.mark.postgres

WORKERS, TRIALS_EACH = 2, 6

WORKER = """
import sys, optuna
from metasearch import MetaSampler, WarehouseCallback
sys.path.insert(0, sys.argv[5])
from plain_history import objective
storage, warehouse, seed, family, _, n = sys.argv[1:7]
seed, n = int(seed), int(n)
optuna.logging.set_verbosity(optuna.logging.WARNING)
sampler = MetaSampler.from_warehouse(warehouse, family=family, seed=seed)
assert sampler.model is not None, "the worker found no model in the warehouse"
study = optuna.load_study(study_name="new-task", storage=storage, sampler=sampler)
callback = WarehouseCallback(warehouse, family=family, storage=storage)
study.optimize(objective(7), n_trials=n, callbacks=[callback])
"""


def test_two_workers_use_the_model_inside_postgresql_and_record_each_trial_once(
        postgres_schema: Callable[[], str]) -> None:
    past, storage, warehouse = postgres_schema(), postgres_schema(), postgres_schema()
    run_studies(past, n_tasks=4, n_trials=12)
    runner = CliRunner()
    for args in (["warehouse", "ingest-optuna", past, "-f", "mine", "-w", warehouse],
                 ["meta-train", "-f", "mine", "--components", "portfolio,prior,rgpe",
                  "-w", warehouse]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    optuna.create_study(storage=storage, study_name="new-task", direction="minimize")
    here = str(Path(__file__).resolve().parents[1])
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, storage, warehouse, str(seed),
                               "mine", here, str(TRIALS_EACH)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in range(WORKERS)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    trials = optuna.load_study(study_name="new-task", storage=storage).get_trials()
    assert len(trials) == WORKERS * TRIALS_EACH
    assert all(t.state == TrialState.COMPLETE for t in trials)
    with Warehouse.open(warehouse) as store:
        stored = store.trials("mine", tasks=["new-task"])
    assert sorted(stored["number"]) == sorted(t.number for t in trials)  # each once
    values = {t.number: t.value for t in trials}
    assert all(row.final_value == pytest.approx(values[row.number])
               for row in stored.itertuples())
