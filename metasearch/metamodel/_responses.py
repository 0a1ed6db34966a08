"""Cheap per-task response models, to compare tasks that never shared a configuration.

:class:`TaskResponses` is a cheap model of each training task's response surface (a GP
posterior mean in the encoded space), used to estimate how a configuration tried on one task
would have done on another (warehouse tasks do not share configurations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.metamodel._data import MetaDataset, unit_scaled
from metasearch.metamodel._encoding import EncodingLayout

__all__ = ["TaskResponses"]


# -- per-task response models ----------------------------------------------------------------


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def _fit_gp_mean(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """GP posterior mean weights for ``(x, y)``: lengthscale and noise chosen by exact LOO.

    The lengthscale is the median pairwise distance times a factor from a small grid, the
    noise a value from a grid; the pair with the least leave-one-out squared error wins
    (closed form for kernel ridge regression: ``r_i = alpha_i / [(K + lam I)^-1]_ii``). One
    eigendecomposition per lengthscale serves every noise level.

    Returns:
        ``alpha`` (weights of the centred targets), the lengthscale and the target mean.
    """
    mean = float(y.mean())
    d2 = _sq_dists(x, x)
    median = math.sqrt(float(np.median(d2[np.triu_indices(len(x), 1)]))) if len(x) > 1 else 1.0
    best: tuple[float, np.ndarray, float] = (math.inf, np.zeros(len(x)), max(median, 1e-6))
    for factor in (0.25, 0.5, 1.0):
        ell = max(median * factor, 1e-6)
        eigenvalues, vectors = np.linalg.eigh(np.exp(-d2 / (2.0 * ell * ell)))
        eigenvalues = np.maximum(eigenvalues, 0.0)
        projected = vectors.T @ (y - mean)
        for lam in (1e-2, 1e-1, 1.0):
            inverse = 1.0 / (eigenvalues + lam)
            alpha = vectors @ (projected * inverse)
            loo = float(np.mean((alpha / ((vectors * vectors) @ inverse)) ** 2))
            if loo < best[0]:
                best = (loo, alpha, ell)
    return best[1], best[2], mean


FENCE_IQRS = 10.0
"""Scores further below their task's median than this many interquartile ranges are raised to
that fence before the task is normalized (:func:`fenced_scores`)."""


def fenced_scores(filled: np.ndarray) -> np.ndarray:
    """A task's scores scaled to [0, 1] (1 = best), the worst first raised to a far fence.

    Scaling by the best and the worst score lets one diverged run set the scale: on
    ``taskset`` a task's losses reach 7e16 where its good configurations differ by 0.01, so
    every trial but the diverged ones scored within 1e-3 of 1, the response model could not
    tell a good configuration from the best, and the warm-start portfolio's leave-one-task-out
    regret was the same after 1, 3 and 5 picks. A score below ``median - FENCE_IQRS * IQR``
    (Tukey's far-out fence is 3 IQR; 10 is far past it) is raised to that value first. Where
    no score lies so far out (every ``synthetic`` task) this is exactly the min-max scaling of
    :meth:`~metasearch.metamodel.TaskHistory.normalized_scores`.
    """
    filled = np.asarray(filled, dtype=np.float64)
    q1, median, q3 = np.quantile(filled, [0.25, 0.5, 0.75])
    return unit_scaled(np.maximum(filled, median - FENCE_IQRS * (q3 - q1)))


class TaskResponses:
    """One cheap response model per training task: a GP posterior mean of normalized scores
    (:func:`fenced_scores`: one diverged run does not flatten the rest).

    Warehouse tasks were searched independently, so no configuration was tried on every task;
    comparing tasks, or scoring a configuration on a task where it was not tried, needs an
    estimate. Like the per-task surrogates of TST-R (Wistuba et al., "Two-stage transfer
    surrogate model for automatic hyperparameter optimization", ECML-PKDD 2016) and RGPE
    (Feurer et al., "Scalable meta-learning for Bayesian optimization", 2018), each task gets
    its own model; here an RBF kernel regression on the block-scaled encoding (each
    hyperparameter or edge moves distance <= 1), with lengthscale and noise picked by exact
    leave-one-out error. Tasks with more than ``max_trials`` trials keep their best quarter
    and a random rest, so fitting stays O(max_trials^3) per task.

    Args:
        max_trials: trials kept per task.
        seed: seeds the subsample.
    """

    def __init__(self, max_trials: int = 300, seed: int = 0) -> None:
        self.max_trials = max_trials
        self.seed = seed
        self.task_ids: list[str] = []
        self._x = np.zeros((0, 0))
        self._alpha = np.zeros(0)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._ell = np.zeros(0)
        self._mean = np.zeros(0)
        self._scale = np.zeros(0)

    def fit(self, data: MetaDataset) -> TaskResponses:
        if not data.tasks:
            raise MetasearchError(f"no tasks to learn from in family {data.family!r}")
        rng = np.random.default_rng(self.seed)
        self._scale = EncodingLayout.of(data.space).distance_scale()
        xs, alphas, ells, means = [], [], [], []
        for task, history in data.tasks.items():
            if history.n_trials == 0:
                raise MetasearchError(f"task {task!r} has no trials to learn from")
            scores = fenced_scores(history.filled_scores())
            keep = self._keep(scores, rng)
            x = history.x[keep] * self._scale
            alpha, ell, mean = _fit_gp_mean(x, scores[keep])
            xs.append(x)
            alphas.append(alpha)
            ells.append(ell)
            means.append(mean)
        self.task_ids = list(data.tasks)
        self._x, self._alpha = np.concatenate(xs), np.concatenate(alphas)
        self._offsets = np.cumsum([0, *(len(x) for x in xs)]).astype(np.int64)
        self._ell, self._mean = np.asarray(ells), np.asarray(means)
        return self

    def _keep(self, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(scores) <= self.max_trials:
            return np.arange(len(scores))
        order = np.argsort(-scores, kind="stable")
        n_top = self.max_trials // 4
        rest = rng.choice(order[n_top:], self.max_trials - n_top, replace=False)
        return np.sort(np.concatenate([order[:n_top], rest]))

    @property
    def dim(self) -> int:
        """Length of the encodings the models read."""
        return len(self._scale)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Estimated normalized scores of encodings ``x`` on every task, ``(len(x), n_tasks)``."""
        scaled = np.atleast_2d(np.asarray(x, dtype=np.float64)) * self._scale
        out = np.empty((len(scaled), len(self.task_ids)))
        for t in range(len(self.task_ids)):
            lo, hi = self._offsets[t], self._offsets[t + 1]
            kernel = np.exp(-_sq_dists(scaled, self._x[lo:hi]) / (2.0 * self._ell[t] ** 2))
            out[:, t] = self._mean[t] + kernel @ self._alpha[lo:hi]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"x": self._x, "alpha": self._alpha, "offsets": self._offsets, "ell": self._ell,
                "mean": self._mean, "scale": self._scale}

    def settings(self) -> dict[str, Any]:
        return {"max_trials": self.max_trials, "seed": self.seed, "task_ids": self.task_ids}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                ) -> TaskResponses:
        model = cls(int(settings["max_trials"]), int(settings["seed"]))
        model.task_ids = [str(t) for t in settings["task_ids"]]
        model._x, model._alpha = np.asarray(arrays["x"]), np.asarray(arrays["alpha"])
        model._offsets = np.asarray(arrays["offsets"], dtype=np.int64)
        model._ell, model._mean = np.asarray(arrays["ell"]), np.asarray(arrays["mean"])
        model._scale = np.asarray(arrays["scale"])
        return model
