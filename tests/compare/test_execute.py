"""A comparison's runs as ``run_unit`` searches them: each method's sampler and pruner."""

from __future__ import annotations

from pathlib import Path

import optuna
from synthetic_data import evaluated_dataset

from metasearch.compare import RunUnit, run_unit
from metasearch.compare._execute import open_storage
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
