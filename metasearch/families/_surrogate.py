"""A stored family searched through per-task surrogates: how compare measures your own history.

Past Optuna studies each tried their own configurations, so a new search of one of their tasks
cannot be answered by looking a configuration up. As HPO-B's continuous variant (Arango et al.
2021) does with per-task XGBoost models, each task gets a regression model fitted to that
task's own stored trials (a scikit-learn random forest on the space's numeric encoding,
:meth:`~metasearch.spaces.SearchSpace.encode`), and a search of the task evaluates a
configuration by the model's prediction. The forest predicts inside the range of values the
task measured, so the regret scale of the stored trials stays valid.

How far such a benchmark can be trusted is measured, not assumed: :meth:`SurrogateFamily.fit`
gives each task's k-fold cross-validated Spearman correlation and R^2 of the forest on that
task's trials, which compare puts in its report. A model fitted on one task never sees another
task's trials, and the meta-model being compared never sees a held-out task's trials: they only
define its objective.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.evaluation import CurveRecorder
from metasearch.families._base import Task, TaskFamily
from metasearch.records import FamilyRecord, TaskRecord, TrialRecord
from metasearch.spaces import SearchSpace

__all__ = ["FitQuality", "SurrogateFamily", "SurrogateTask", "surrogate_from_records"]

MIN_TRIALS = 5
"""Fewer complete trials than this on a task tell a surrogate (and its check) too little."""
FOLDS = 5
TREES = 200


@dataclass(frozen=True)
class FitQuality:
    """A task surrogate's cross-validated fit to the task's own trials.

    Attributes:
        trials: complete trials the surrogate was fitted on.
        spearman: rank correlation of out-of-fold predictions with the measured values (what a
            search needs: that better configurations are predicted better).
        r2: coefficient of determination of the out-of-fold predictions.
        folds: the number of folds.
    """

    trials: int
    spearman: float
    r2: float
    folds: int

    def to_dict(self) -> dict[str, float | int]:
        return {"trials": self.trials, "spearman": round(self.spearman, 4),
                "r2": round(self.r2, 4), "folds": self.folds}


class SurrogateTask(Task):
    """A stored task answered by its surrogate's prediction (one value, no curve)."""

    family: SurrogateFamily

    def compute_meta_features(self) -> dict[str, float]:
        return dict(self.family.stored_meta_features.get(self.id, {}))

    def prepare(self) -> None:
        self.family.model(self.id)  # fit before the timed part of evaluate

    def _train(self, config: dict[str, Any], budget: int, device: str, seed: int,
               curve: CurveRecorder) -> float | None:
        x = self.family.space.encode(config)[None, :]
        curve.step(float(self.family.model(self.id).predict(x)[0]))
        return None


class SurrogateFamily(TaskFamily):
    """A stored family whose tasks are answered by per-task surrogates (module docstring)."""

    uses_torch = False

    def __init__(self, space: SearchSpace, data: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 meta_features: Mapping[str, Mapping[str, float]], seed: int = 0) -> None:
        self._space = space
        self._data = dict(data)
        self.stored_meta_features = {t: dict(meta_features.get(t, {})) for t in self._data}
        self.seed = seed
        self._models: dict[str, Any] = {}

    def build_space(self) -> SearchSpace:
        return self._space

    def task_ids(self) -> list[str]:
        return sorted(self._data)

    def make_task(self, task_id: str) -> Task:
        return SurrogateTask(self, task_id)

    def _forest(self) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=TREES, min_samples_leaf=2,
                                     random_state=self.seed, n_jobs=1)

    def model(self, task_id: str) -> Any:
        """Task ``task_id``'s fitted forest (fitted once per process, seeded)."""
        if task_id not in self._models:
            x, y = self._data[task_id]
            self._models[task_id] = self._forest().fit(x, y)
        return self._models[task_id]

    def fit(self, task_id: str) -> FitQuality:
        """The surrogate's k-fold cross-validated fit on task ``task_id``'s own trials."""
        from scipy.stats import spearmanr
        from sklearn.metrics import r2_score
        from sklearn.model_selection import KFold, cross_val_predict

        x, y = self._data[task_id]
        folds = min(FOLDS, len(y))
        split = KFold(folds, shuffle=True, random_state=self.seed)
        predicted = cross_val_predict(self._forest(), x, y, cv=split)
        rho = spearmanr(predicted, y).statistic
        return FitQuality(len(y), float(np.nan_to_num(rho)), float(r2_score(y, predicted)),
                          folds)


def surrogate_from_records(record: FamilyRecord, trials: Sequence[TrialRecord],
                           tasks: Sequence[TaskRecord], seed: int = 0) -> SurrogateFamily:
    """The stored family ``record`` as a :class:`SurrogateFamily` of its complete trials.

    Raises:
        MetasearchError: a task with fewer than :data:`MIN_TRIALS` complete trials.
    """
    by_task: dict[str, list[TrialRecord]] = {t.name: [] for t in tasks}
    for trial in trials:
        if trial.status == "complete" and trial.final_value is not None \
                and np.isfinite(trial.final_value):
            by_task.setdefault(trial.task, []).append(trial)
    few = sorted(t for t, rows in by_task.items() if len(rows) < MIN_TRIALS)
    if few:
        raise MetasearchError(
            f"family {record.name!r}: tasks {few} have fewer than {MIN_TRIALS} complete trials: "
            "too few to fit a surrogate of each task to search")
    data = {task: (record.space.encode_many([t.config for t in rows]),
                   np.array([float(t.final_value or 0.0) for t in rows]))
            for task, rows in by_task.items()}
    attrs = {"name": record.name, "metric": record.metric, "direction": record.direction,
             "max_budget": 1, "description": f"per-task surrogates of the stored {record.name}"}
    cls = type(f"Surrogate[{record.name}]", (SurrogateFamily,), attrs)
    family: SurrogateFamily = cls(record.space, data,
                                  {t.name: t.meta_features for t in tasks}, seed)
    return family
