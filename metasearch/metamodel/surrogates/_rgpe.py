"""RGPE: the gradient-free transfer surrogate, a ranking-weighted ensemble of per-task GPs."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import Component, FitReport, TaskContext
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._features import EncodingLayout
from metasearch.metamodel.surrogates._common import (
    check_context,
    check_queries,
    lacks_trials,
    quantile_normalize,
    single_blas_thread,
    support_spearman,
)
from metasearch.metamodel.surrogates._gp import GaussianProcess

__all__ = ["RGPEPredictor", "RGPESurrogate", "ranking_losses"]

REPORT_TASKS = 12
"""Training tasks the fit report scores (the figure is a mean; more only costs time)."""


def ranking_losses(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Misordered support pairs of each sample, ``(..., n) -> (...)``.

    Only pairs whose observed scores differ count (tied failures say nothing about order);
    a sampled tie counts as half a mistake.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if not (np.isfinite(y).all() and np.isfinite(samples).all()):
        i, j = np.triu_indices(len(y), 1)
        truth = np.sign(y[i] - y[j])
        useful = truth != 0
        guess = np.sign(samples[..., i[useful]] - samples[..., j[useful]])
        wrong = np.where(guess == 0, 0.5, (guess != truth[useful]).astype(np.float64))
        return wrong.sum(-1)
    # Each pair once, as (lower observed, higher observed): wrong where the sample puts the
    # lower one above (a whole mistake) or level (half). With the trials in order of ``y``,
    # a trial's lower-observed partners are the ones before its tie group: one slice each,
    # half the comparisons of a mask over every pair and none to combine, with the trials on
    # the first axis so that each count adds whole rows. Level pairs are only looked for when
    # some sample has a tie (draws from a continuous posterior almost never do). The same
    # counts, about twice as fast (the target GP's blend weights, every suggestion).
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], y[order], side="left")  # where each one's tie group starts
    ordered = np.ascontiguousarray(np.moveaxis(samples[..., order], -1, 0))
    ties = bool((np.diff(np.sort(samples, axis=-1), axis=-1) == 0).any())
    above = np.zeros(samples.shape[:-1], dtype=np.int64)
    level = np.zeros_like(above)
    for higher, start in enumerate(starts):
        lower, here = ordered[:start], ordered[higher]
        above += np.sum(lower > here, axis=0)
        if ties:
            level += np.sum(lower == here, axis=0)
    return above + 0.5 * level if ties else above.astype(np.float64)


def _joint_samples(model: GaussianProcess, x: np.ndarray, n: int, rng: np.random.Generator
                   ) -> np.ndarray:
    """``n`` joint posterior samples of ``model`` at ``x``, ``(n, len(x))``."""
    mean, cov = model.posterior(x)
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    factor = vectors * np.sqrt(np.maximum(values, 0.0))
    return mean + rng.standard_normal((n, len(x))) @ factor.T


class RGPEPredictor:
    """The ensemble adapted to one task: ``sum_i w_i f_i`` with independent members.

    Attributes:
        weights: one per base task, then the target model's (last); they sum to 1.
    """

    def __init__(self, models: list[GaussianProcess], weights: np.ndarray,
                 scale: np.ndarray) -> None:
        self.models, self.weights, self._scale = models, weights, scale

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``sum w_i mu_i`` and std ``sqrt(sum w_i^2 var_i)`` in the quantile scale."""
        scaled = check_queries(x, len(self._scale)) * self._scale
        mean, var = np.zeros(len(scaled)), np.zeros(len(scaled))
        with single_blas_thread():
            for model, weight in zip(self.models, self.weights, strict=True):
                if weight > 0:
                    mu, std = model.predict(scaled)
                    mean += weight * mu
                    var += weight * weight * std * std
        return mean, np.sqrt(np.maximum(var, 1e-12))


class RGPESurrogate(Component):
    """Ranking-weighted Gaussian process ensemble over the training tasks.

    From Feurer, Letham and Bakshy, "Scalable meta-learning for Bayesian optimization using
    ranking-weighted Gaussian process ensembles" (AutoML workshop at ICML 2018;
    arXiv:1802.02219). Each training task gets its own GP (Matern-5/2, ML-II hyperparameters,
    at most ``max_trials`` random trials so fitting stays O(max_trials^3) per task) on its
    quantile-normalized scores; the new task gets a GP on its support set. Each model's weight
    is the probability that it orders the support set best: ``n_samples`` joint posterior
    samples of each base model at the support points (and leave-one-out samples for the target
    model, which would otherwise always rank its own data perfectly) are scored by their
    number of misordered pairs, and a model's weight is the share of samples in which it has
    the lowest loss (ties broken at random). As in the paper, a base model whose median loss
    exceeds the ``dilution_percentile`` of the target model's losses is discarded, so many
    mediocre tasks cannot dilute the weight of a good one. With fewer than two support trials
    nothing can be ranked and the base models share the weight uniformly.

    No gradients and no meta-training beyond the per-task fits: the ablation's gradient-free
    counterpart of :class:`~metasearch.metamodel.surrogates.FSBOSurrogate`. Meta-features are
    not used (the support set ranks the tasks).

    Args:
        max_trials: trials kept per training task.
        n_samples: posterior samples per model for the ranking losses.
        dilution_percentile: percentile of the target's losses a base model's median must not
            exceed; 100 keeps every model.
        seed: seeds subsampling and the ranking samples (adaptation is deterministic).
    """

    kind = "rgpe"

    def lacks(self, data: MetaDataset) -> str | None:
        return lacks_trials(data, "RGPE")

    def __init__(self, max_trials: int = 200, n_samples: int = 256,
                 dilution_percentile: float = 95.0, seed: int = 0) -> None:
        if max_trials < 2 or n_samples < 1 or not 0 <= dilution_percentile <= 100:
            raise MetasearchError(
                f"need max_trials >= 2, n_samples >= 1, 0 <= dilution_percentile <= 100; got "
                f"{max_trials!r}, {n_samples!r}, {dilution_percentile!r}")
        self.max_trials, self.n_samples = max_trials, n_samples
        self.dilution_percentile, self.seed = dilution_percentile, seed
        self.task_ids: list[str] = []
        self.models: list[GaussianProcess] = []
        self._scale = np.zeros(0)

    @property
    def dim(self) -> int:
        """Width of the encodings this surrogate reads."""
        return len(self._scale)

    def fit(self, data: MetaDataset, validation: MetaDataset | None = None) -> FitReport:
        """One GP per training task; the report gives ``spearman_at_5`` on train and validation."""
        start = time.perf_counter()
        if not data.tasks:
            raise MetasearchError(f"no tasks to learn from in family {data.family!r}")
        with single_blas_thread():
            self._fit_models(data)
        seconds = time.perf_counter() - start
        train = {"spearman_at_5": support_spearman(self, data, seed=self.seed,
                                                   max_tasks=REPORT_TASKS)[0]}
        valid = {}
        if validation is not None and validation.tasks:
            valid = {"spearman_at_5": support_spearman(self, validation, seed=self.seed)[0]}
        return FitReport(train=train, validation=valid, seconds=seconds, epochs=None)

    def _fit_models(self, data: MetaDataset) -> None:
        rng = np.random.default_rng(self.seed)
        self._scale = EncodingLayout.of(data.space).distance_scale()
        self.task_ids, self.models = [], []
        for task, history in data.tasks.items():
            if history.n_trials < 2:
                raise MetasearchError(f"task {task!r} has {history.n_trials} trial(s); a "
                                      "per-task GP needs at least 2")
            targets = quantile_normalize(history.scores)
            keep = np.sort(rng.permutation(history.n_trials)[:self.max_trials])
            self.models.append(GaussianProcess(history.x[keep] * self._scale, targets[keep]))
            self.task_ids.append(task)

    def adapt(self, context: TaskContext) -> RGPEPredictor:
        """The ensemble weighted for ``context``'s support set (never changes this object)."""
        if not self.models:
            raise MetasearchError("the RGPE surrogate is not fitted: call fit() first")
        x, y = check_context(context, self.dim)
        with single_blas_thread():
            target = GaussianProcess(x * self._scale, y)
            if len(y) < 2:
                weights = np.append(np.full(len(self.models), 1.0 / len(self.models)), 0.0)
            else:
                weights = self.rank_weights(x * self._scale, y, target)
        return RGPEPredictor([*self.models, target], weights, self._scale)

    def rank_weights(self, x: np.ndarray, y: np.ndarray, target: GaussianProcess
                     ) -> np.ndarray:
        """The probability that each model (base tasks, then target) ranks ``(x, y)`` best."""
        rng = np.random.default_rng(self.seed)
        losses = np.empty((len(self.models) + 1, self.n_samples))
        for i, model in enumerate(self.models):
            losses[i] = ranking_losses(_joint_samples(model, x, self.n_samples, rng), y)
        loo_mean, loo_var = target.loo()
        loo = loo_mean + np.sqrt(loo_var) * rng.standard_normal((self.n_samples, len(y)))
        losses[-1] = ranking_losses(loo, y)
        limit = np.percentile(losses[-1], self.dilution_percentile)
        diluting = np.append(np.median(losses[:-1], axis=1) > limit, False)
        jitter = rng.random(losses.shape)  # < 1, so it only breaks ties among equal losses
        contest = np.where(diluting[:, None], math.inf, losses + 0.5 * jitter)
        winners = np.argmin(contest, axis=0)
        return np.bincount(winners, minlength=len(losses)) / self.n_samples

    def arrays(self) -> dict[str, np.ndarray]:
        sizes = [len(m.y) for m in self.models]
        return {
            "x": np.concatenate([m.x for m in self.models]) if self.models else np.zeros((0, 0)),
            "y": np.concatenate([m.y for m in self.models]) if self.models else np.zeros(0),
            "offsets": np.cumsum([0, *sizes]).astype(np.int64),
            "log_theta": np.stack([m.log_theta for m in self.models]) if self.models
            else np.zeros((0, 3)),
            "scale": self._scale,
        }

    def settings(self) -> dict[str, Any]:
        return {"max_trials": self.max_trials, "n_samples": self.n_samples,
                "dilution_percentile": self.dilution_percentile, "seed": self.seed,
                "task_ids": list(self.task_ids)}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                data_space: Any) -> RGPESurrogate:
        """Rebuild the per-task GPs from their stored data and hyperparameters (no refit)."""
        model = cls(int(settings["max_trials"]), int(settings["n_samples"]),
                    float(settings["dilution_percentile"]), int(settings["seed"]))
        model.task_ids = [str(t) for t in settings["task_ids"]]
        x, y = np.asarray(arrays["x"], np.float64), np.asarray(arrays["y"], np.float64)
        offsets = np.asarray(arrays["offsets"], dtype=np.int64)
        thetas = np.asarray(arrays["log_theta"], dtype=np.float64)
        if len(offsets) != len(model.task_ids) + 1 or len(thetas) != len(model.task_ids):
            raise MetasearchError(f"RGPE arrays hold {len(offsets) - 1} models and "
                                  f"{len(thetas)} hyperparameter rows for "
                                  f"{len(model.task_ids)} tasks")
        model._scale = np.asarray(arrays["scale"], dtype=np.float64)
        with single_blas_thread():
            model.models = [GaussianProcess(x[lo:hi], y[lo:hi], thetas[t]) for t, (lo, hi)
                            in enumerate(itertools.pairwise(offsets))]
        return model
