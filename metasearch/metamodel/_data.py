"""What the meta-model learns from: each past task's encoded trials, values, curves, features.

Built from the plain DataFrames and records the warehouse returns (or, in tests, straight from
a family's evaluations), never from a database handle, so every model here can be fitted and
tested without storage. Values are turned into *scores*, where higher is always better, so no
model needs to know a family's direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metasearch.errors import MetasearchError
from metasearch.spaces import SearchSpace

__all__ = ["MetaDataset", "TaskHistory"]


@dataclass(frozen=True)
class TaskHistory:
    """Everything known of one past task.

    Attributes:
        task: the task id.
        meta_features: its data-set statistics (unscaled).
        configs: the configurations tried, in order.
        x: their encodings, ``(n, d)``.
        scores: final values oriented so that higher is better; NaN for a failed trial.
        curves: ``(n, max_budget)`` scores per step, NaN past a curve's end.
    """

    task: str
    meta_features: Mapping[str, float]
    configs: tuple[Mapping[str, Any], ...]
    x: np.ndarray
    scores: np.ndarray
    curves: np.ndarray

    @property
    def n_trials(self) -> int:
        return len(self.configs)

    @property
    def ok(self) -> np.ndarray:
        """Mask of the trials that produced a final value."""
        return np.isfinite(self.scores)

    def filled_scores(self) -> np.ndarray:
        """Scores with failed trials set to the worst observed score (a failure is bad)."""
        if not self.ok.any():
            return np.zeros_like(self.scores)
        return np.where(self.ok, self.scores, np.nanmin(self.scores))

    def normalized_scores(self) -> np.ndarray:
        """:meth:`filled_scores` scaled to [0, 1] by the task's best and worst (1 = best)."""
        return unit_scaled(self.filled_scores())


def unit_scaled(values: np.ndarray) -> np.ndarray:
    """``values`` scaled to [0, 1] by their minimum and maximum; all 0.5 when they are equal."""
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.full_like(values, 0.5)


@dataclass(frozen=True)
class MetaDataset:
    """The past tasks of one family, ready for meta-learning.

    Attributes:
        family: the family name.
        space: its search space (what :attr:`TaskHistory.x` encodes).
        direction: ``maximize`` or ``minimize`` (scores are values, or minus values).
        max_budget: curve length.
        tasks: histories by task id.
    """

    family: str
    space: SearchSpace
    direction: str
    max_budget: int
    tasks: Mapping[str, TaskHistory] = field(default_factory=dict)

    @property
    def task_ids(self) -> list[str]:
        return list(self.tasks)

    @property
    def sign(self) -> float:
        """+1 when higher values are better, -1 when lower are."""
        return 1.0 if self.direction == "maximize" else -1.0

    def subset(self, task_ids: Iterable[str]) -> MetaDataset:
        """The same family restricted to ``task_ids`` (an unknown id is an error)."""
        wanted = list(task_ids)
        missing = [t for t in wanted if t not in self.tasks]
        if missing:
            raise MetasearchError(f"tasks {missing} are not in the {self.family!r} data")
        return MetaDataset(self.family, self.space, self.direction, self.max_budget,
                           {t: self.tasks[t] for t in wanted})

    def feature_names(self) -> list[str]:
        """Meta-feature names present in every task, sorted."""
        sets = [set(h.meta_features) for h in self.tasks.values()]
        return sorted(set.intersection(*sets)) if sets else []

    @classmethod
    def from_frames(
        cls,
        *,
        family: str,
        space: SearchSpace,
        direction: str,
        max_budget: int,
        trials: pd.DataFrame,
        curves: pd.DataFrame | None = None,
        meta_features: Mapping[str, Mapping[str, float]] | None = None,
    ) -> MetaDataset:
        """Build from the warehouse's frames.

        Args:
            trials: one row per trial with at least ``trial_id, task, config`` (a dict),
                ``status`` and ``final_value``; pruned trials are left out (their final value
                is not the value at the full budget).
            curves: long format ``trial_id, step, value``; a trial's points are taken in
                step order and numbered by position (1, 2, ...), whatever the steps (a
                table's may start at 0 or skip), as MetaPruner reads a running trial.
            meta_features: per task id.
        """
        sign = 1.0 if direction == "maximize" else -1.0
        kept = trials[trials["status"].isin(["complete", "failed"])]
        points = _curve_matrix(curves, max_budget) if curves is not None else {}
        histories: dict[str, TaskHistory] = {}
        for task, rows in kept.groupby("task", sort=True, observed=True):
            configs = tuple(space.validate(c) for c in rows["config"])
            values = rows["final_value"].to_numpy(dtype=np.float64)
            scores = np.where(rows["status"].to_numpy() == "complete", sign * values, np.nan)
            empty = np.full(max_budget, np.nan)
            curve_rows = [sign * points.get(t, empty) for t in rows["trial_id"]]
            histories[str(task)] = TaskHistory(
                task=str(task),
                meta_features=dict((meta_features or {}).get(str(task), {})),
                configs=configs,
                x=space.encode_many(list(configs)),
                scores=scores,
                curves=np.stack(curve_rows) if curve_rows else np.zeros((0, max_budget)),
            )
        return cls(family, space, direction, max_budget, histories)

    @classmethod
    def from_results(
        cls,
        *,
        family: str,
        space: SearchSpace,
        direction: str,
        max_budget: int,
        results: Mapping[str, Sequence[Any]],
        meta_features: Mapping[str, Mapping[str, float]] | None = None,
    ) -> MetaDataset:
        """Build from :class:`~metasearch.evaluation.EvalResult` lists per task (for tests)."""
        rows: list[dict[str, Any]] = []
        points: list[dict[str, Any]] = []
        for task, task_results in results.items():
            for result in task_results:
                trial_id = len(rows)
                rows.append({"trial_id": trial_id, "task": task, "config": result.config,
                             "status": result.status, "final_value": result.final_value})
                points += [{"trial_id": trial_id, "step": s + 1, "value": v}
                           for s, v in enumerate(result.curve)]
        return cls.from_frames(
            family=family, space=space, direction=direction, max_budget=max_budget,
            trials=pd.DataFrame(rows),
            curves=pd.DataFrame(points, columns=["trial_id", "step", "value"]),
            meta_features=meta_features,
        )


def _curve_matrix(curves: pd.DataFrame, max_budget: int) -> dict[Any, np.ndarray]:
    """Per trial id, its curve as a ``max_budget`` vector (NaN past its end): its points in
    step order, by position."""
    ordered = curves.sort_values(["trial_id", "step"], kind="stable")
    position = ordered.groupby("trial_id", sort=False).cumcount().to_numpy()
    kept = position < max_budget
    inside = ordered[kept]
    ids = pd.Index(inside["trial_id"].unique())
    matrix = np.full((len(ids), max_budget), np.nan)
    rows = ids.get_indexer(inside["trial_id"])
    matrix[rows, position[kept]] = inside["value"].to_numpy(dtype=float)
    return dict(zip(ids, matrix, strict=True))
