"""Four worker processes, one real PostgreSQL-backed Optuna study, MetaSampler in each.

This is the multi-machine recipe of the README on one machine: every worker runs
``pg_worker.py`` against the same study and the same warehouse (both on PostgreSQL, in schemas
of their own), as one process per GPU or per machine would. The task is of the finite
cell-only family (26 networks), where workers that proposed one configuration twice would show.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cell_tasks
import optuna
import pytest
from optuna.trial import TrialState

from metasearch.warehouse import Warehouse

pytestmark = pytest.mark.postgres

FAMILY = cell_tasks.FAMILY
WORKERS, TRIALS_EACH, TASK = 4, 4, cell_tasks.HELD_OUT[0]
WORKER = Path(__file__).with_name("pg_worker.py")


def small_model(folder: Path) -> Path:
    """Portfolio, prior, RGPE and FSBO surrogate fitted on cell-only tasks (never TASK)."""
    return cell_tasks.cell_model().save(folder / "model")


def test_four_workers_share_one_study_and_fill_the_warehouse(
        postgres_schema: Callable[[], str], tmp_path: Path) -> None:
    storage, warehouse = postgres_schema(), postgres_schema()
    model_dir = small_model(tmp_path)
    # As the README's recipe: the study is created once, then the workers join it (Optuna's
    # RDB storage does not support several processes creating its tables at the same time).
    optuna.create_study(storage=storage, study_name="shared", direction=FAMILY.direction)
    procs = [subprocess.Popen(
        [sys.executable, str(WORKER), storage, "shared", warehouse, str(model_dir), TASK,
         str(TRIALS_EACH), str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for seed in range(WORKERS)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == WORKERS * TRIALS_EACH
    assert sorted(t.number for t in trials) == list(range(WORKERS * TRIALS_EACH))
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    networks = cell_tasks.network_keys(study)
    assert len(set(networks)) == len(networks), "concurrent workers proposed one network twice"

    with Warehouse.open(warehouse) as store:
        stored = store.trials(FAMILY.name)
        curves = store.curves(FAMILY.name)
    assert len(stored) == len(trials)  # every trial recorded once
    assert sorted(stored["number"]) == sorted(t.number for t in trials)
    assert set(stored["task"]) == {TASK}
    by_number = {t.number: t for t in trials}
    for row in stored.itertuples():
        trial = by_number[row.number]
        assert row.status == ("complete" if trial.state == TrialState.COMPLETE else "failed")
        if trial.state == TrialState.COMPLETE:
            assert row.final_value == pytest.approx(trial.value)
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    assert curves["trial_id"].nunique() >= complete
