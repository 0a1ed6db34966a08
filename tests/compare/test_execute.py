"""A comparison's runs as ``run_unit`` searches them: each method's sampler and pruner."""

from __future__ import annotations

import math
import time
from pathlib import Path

import optuna
from synthetic_data import evaluated_dataset

from metasearch.compare import RunUnit, run_unit
from metasearch.compare._collect import collect_runs
from metasearch.compare._execute import open_storage
from metasearch.compare._plan import ComparePlan
from metasearch.families import get_family
from metasearch.metamodel import MetaModel, TaskSplit

FAMILY = get_family("synthetic")


def test_no_pruner_never_prunes_where_metasearch_prunes(tmp_path: Path) -> None:
    """Both search with the same MetaSampler; only metasearch's MetaPruner stops trials, and
    ``no-pruner``'s missing pruner is no pruning (not Optuna's default MedianPruner)."""
    ids = FAMILY.task_ids()[:10]
    model = MetaModel.train(evaluated_dataset(ids, 20, seed=0), TaskSplit(train=tuple(ids)),
                            kinds=("portfolio", "prior", "rgpe", "curves"))
    folder = str(model.save(tmp_path / "model"))
    task = FAMILY.task(FAMILY.task_ids()[30])
    storage = f"journal:{tmp_path / 'studies.journal'}"

    def states(method: str) -> list[optuna.trial.TrialState]:
        unit = RunUnit("synthetic", task.id, method, 0, 16, storage, folder,
                       dict(task.meta_features), None)
        assert run_unit(unit) == "ran"
        study = optuna.load_study(study_name=unit.study_name, storage=open_storage(storage))
        assert len(study.trials) == 16
        return [t.state for t in study.trials]

    assert optuna.trial.TrialState.PRUNED in states("metasearch")
    assert optuna.trial.TrialState.PRUNED not in states("no-pruner")


def test_collected_trial_costs_never_hold_the_suggestion_time(tmp_path: Path) -> None:
    """A trial's cost in ``runs.csv`` is its evaluation's ``cost_s``; a pruned trial stored
    without one (by an older version) is unknown (NaN), not its wall span, which also holds
    the sampler's suggestion and made a pruned run's trials look 100x dearer than a
    completed run's (5.4 s against 0.06 s on ``synthetic``)."""
    task = FAMILY.task_ids()[30]
    storage = f"journal:{tmp_path / 'studies.journal'}"
    unit = RunUnit("synthetic", task, "random", 0, 2, storage, None, None, None)
    plan = ComparePlan("synthetic", [], [task], ["random"], 1, 2, storage, tmp_path,
                       units=[unit])
    study = optuna.create_study(storage=open_storage(storage), study_name=unit.study_name,
                                direction="maximize")
    pruned = study.ask()
    pruned.report(0.5, 1)
    time.sleep(0.2)  # the suggestion's time, inside the trial's span
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    complete = study.ask()
    complete.set_user_attr("cost_s", 0.01)
    study.tell(complete, 0.6)
    runs, costs, unfinished = collect_runs(plan)
    assert unfinished == 0
    assert math.isnan(runs["cost_s"].iloc[0]) and runs["cost_s"].iloc[1] == 0.01
    assert costs["trial_s_mean"].tolist() == [0.01]
