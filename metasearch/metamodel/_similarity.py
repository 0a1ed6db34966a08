"""How tasks are compared: scaled meta-features and task similarity.

:class:`MetaFeatureScaler` and :class:`TaskSimilarity` turn a new task's meta-features and
support set into weights over the training tasks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import TaskContext, sub_arrays
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._responses import TaskResponses, _sq_dists

__all__ = ["MetaFeatureScaler", "TaskSimilarity", "discordances"]

_LOG_DECADES = 1.5
"""A feature whose training values span more than this many decades is signed-log scaled."""


# -- meta-features ---------------------------------------------------------------------------


def _checked(features: Mapping[str, Any], name: str, where: str) -> float:
    value = features[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise MetasearchError(f"meta-feature {name!r} of {where} is not a number: {value!r}")
    if not math.isfinite(float(value)):
        raise MetasearchError(f"meta-feature {name!r} of {where} is not finite: {value!r}")
    return float(value)


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


class MetaFeatureScaler:
    """Robust per-feature scaling of task meta-features, fitted on the training tasks.

    Meta-features mix counts spanning decades (rows, features) with bounded rates (class
    entropy, landmarker accuracy), so each is put on one scale before any distance: a feature
    whose training values span more than 1.5 decades goes through a signed log,
    ``sign(v) log(1 + |v|)``, then every feature is centred on its median and divided by its
    IQR / 1.349 (the standard deviation for Gaussian data, but not pulled by one odd task); a
    constant feature gets scale 1. Only features every training task has are used. In a new
    task, a missing feature scales to 0 (the training median), and NaN or inf is an error.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self._log = np.zeros(0, dtype=bool)
        self._center = np.zeros(0)
        self._scale = np.zeros(0)

    def fit(self, features: Mapping[str, Mapping[str, Any]]) -> MetaFeatureScaler:
        """Fit on ``{task_id: {feature: value}}``."""
        sets = [set(f) for f in features.values()]
        self.names = sorted(set.intersection(*sets)) if sets else []
        raw = np.array([[_checked(f, n, f"task {task!r}") for n in self.names]
                        for task, f in features.items()]).reshape(len(features), len(self.names))
        magnitude = np.log10(1.0 + np.abs(raw))
        spread = np.ptp(magnitude, axis=0) if len(raw) else np.zeros(len(self.names))
        self._log = spread > _LOG_DECADES
        values = np.where(self._log, _signed_log(raw), raw)
        self._center = np.median(values, axis=0) if len(raw) else np.zeros(len(self.names))
        q75, q25 = (np.percentile(values, [75, 25], axis=0) if len(raw)
                    else (np.ones(len(self.names)), np.zeros(len(self.names))))
        scale = (q75 - q25) / 1.349
        std = values.std(axis=0) if len(raw) else np.ones(len(self.names))
        self._scale = np.where(scale > 1e-12, scale, np.where(std > 1e-12, std, 1.0))
        return self

    def transform(self, features: Mapping[str, Any], where: str = "the new task") -> np.ndarray:
        """The scaled vector of one task's features (missing ones at 0).

        Raises:
            MetasearchError: naming a feature that is NaN, infinite or not a number.
        """
        raw = np.zeros(len(self.names))
        present = np.zeros(len(self.names), dtype=bool)
        for i, name in enumerate(self.names):
            if name in features:
                raw[i], present[i] = _checked(features, name, where), True
        values = np.where(self._log, _signed_log(raw), raw)
        return np.where(present, (values - self._center) / self._scale, 0.0)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"log": self._log.astype(np.int8), "center": self._center, "scale": self._scale}

    def settings(self) -> dict[str, Any]:
        return {"names": list(self.names)}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                ) -> MetaFeatureScaler:
        scaler = cls()
        scaler.names = [str(n) for n in settings["names"]]
        scaler._log = np.asarray(arrays["log"]).astype(bool)
        scaler._center = np.asarray(arrays["center"], dtype=np.float64)
        scaler._scale = np.asarray(arrays["scale"], dtype=np.float64)
        return scaler


# -- task similarity -------------------------------------------------------------------------


def _discordance(predicted: np.ndarray, observed: np.ndarray) -> float:
    """Fraction of support pairs a task's predictions order wrongly (prediction ties count 1/2).

    Pairs with equal observed scores are not counted; NaN when no pair is informative.
    """
    i, j = np.triu_indices(len(observed), 1)
    truth = np.sign(observed[i] - observed[j])
    useful = truth != 0
    if not useful.any():
        return math.nan
    guess = np.sign(predicted[i] - predicted[j])[useful]
    wrong = np.where(guess == 0, 0.5, (guess != truth[useful]).astype(float))
    return float(wrong.mean())


_PAIR_BLOCK = 1 << 20
"""Most (pair, task) entries :func:`discordances` holds at once."""


def discordances(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """:func:`_discordance` of every column of ``predicted`` (``(n, tasks)``), batched.

    The same numbers: the pairs, and which of them are informative, are found once for all
    tasks, and each task's wrong orderings are counted (a tie counting 1/2) over them. Counts
    of halves are exact in floating point, so count / pairs rounds as the mean of the
    per-pair 0, 1/2, 1 does. Still quadratic in ``n``, but a sampler's support is capped
    (200 trials) and the work is a few vector operations instead of a loop over tasks.
    """
    n_tasks = predicted.shape[1]
    i, j = np.triu_indices(len(observed), 1)
    truth = np.sign(observed[i] - observed[j])
    useful = truth != 0
    if not useful.any():
        return np.full(n_tasks, math.nan)
    i, j, truth = i[useful], j[useful], truth[useful][:, None]
    out = np.empty(n_tasks)
    step = max(1, _PAIR_BLOCK // len(i))
    for lo in range(0, n_tasks, step):
        part = predicted[:, lo:lo + step]
        guess = np.sign(part[i] - part[j])
        wrong = np.count_nonzero(guess != truth, axis=0) \
            - 0.5 * np.count_nonzero(guess == 0, axis=0)
        out[lo:lo + step] = wrong / len(i)
    return out


_SCALES = (0.125, 0.25, 0.5, 1.0, 2.0, math.inf)
"""Bandwidth factors (times the median distance) tried when the bandwidth is learned."""

_MIN_GAIN = 0.01
"""Mean rank correlation a narrower bandwidth must add over the best wider one to be chosen."""

_LOTO_TRIALS = 100
"""Trials per task that score a bandwidth factor."""


def _centred_ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable").astype(float)
    return ranks - ranks.mean()


def _rank_corr(predicted: np.ndarray, centred_ranks: np.ndarray) -> float:
    """Spearman correlation (no tie correction) of ``predicted`` with precomputed ranks."""
    other = _centred_ranks(predicted)
    norm = math.sqrt(float(other @ other) * float(centred_ranks @ centred_ranks))
    return float(other @ centred_ranks) / norm if norm > 0 else 0.0


class TaskSimilarity:
    """Weights over the training tasks for a new task: near in meta-features, alike in ranking.

    Two sources of evidence, multiplied (added in log space) and normalised:

    * meta-features: an RBF kernel on the scaled meta-features (:class:`MetaFeatureScaler`),
      ``exp(-d^2 / (2 s^2))``, with ``s`` the median pairwise distance between the training
      tasks (the median heuristic) times a factor; unless given, the factor is learned by
      leave-one-task-out: the one whose weights over the other tasks best predict each
      training task's trials (an infinite factor, i.e. uniform weights, is a candidate, so
      meta-features that carry no signal are ignored);
    * the support set, once it has >= 2 trials: as in TST-R (Wistuba et al., "Two-stage
      transfer surrogate model for automatic hyperparameter optimization", ECML-PKDD 2016) and
      RGPE (Feurer et al., "Scalable meta-learning for Bayesian optimization", 2018), each
      training task's response model (:class:`TaskResponses`) predicts the support configs
      and is judged by how many support pairs it orders wrongly. Each pair is read as a noisy
      vote that the task is right with probability ``1 - rank_noise``, but pairs share trials,
      so ``n`` support trials count as ``n`` independent votes (the effective sample size of
      Kendall's tau) rather than ``n (n - 1) / 2``: ``log w = -n * discordance * log((1 - e)
      / e)``.

    With neither, the weights are uniform.

    Args:
        bandwidth_scale: multiplies the median-heuristic bandwidth (smaller concentrates);
            None learns it.
        rank_noise: the chance a related task orders a pair wrongly (``e`` above).
        max_trials: trials kept per task's response model.
    """

    def __init__(self, bandwidth_scale: float | None = None, rank_noise: float = 0.3,
                 max_trials: int = 200) -> None:
        if (bandwidth_scale is not None and bandwidth_scale <= 0) or not 0 < rank_noise < 0.5:
            raise MetasearchError(f"need bandwidth_scale > 0 and 0 < rank_noise < 0.5, got "
                                  f"{bandwidth_scale!r} and {rank_noise!r}")
        self.bandwidth_scale = bandwidth_scale
        self.rank_noise = rank_noise
        self.scaler = MetaFeatureScaler()
        self.responses = TaskResponses(max_trials=max_trials)
        self._features = np.zeros((0, 0))
        self._bandwidth = 1.0
        self.chosen_scale = 1.0

    @property
    def task_ids(self) -> list[str]:
        return self.responses.task_ids

    def fit(self, data: MetaDataset) -> TaskSimilarity:
        self.responses.fit(data)
        self.scaler.fit({t: h.meta_features for t, h in data.tasks.items()})
        self._features = np.stack([self.scaler.transform(h.meta_features, f"task {t!r}")
                                   for t, h in data.tasks.items()])
        d2 = _sq_dists(self._features, self._features)
        pairs = d2[np.triu_indices(len(data.tasks), 1)]
        median = max(math.sqrt(float(np.median(pairs))) if pairs.size else 1.0, 1e-6)
        scale = self.bandwidth_scale
        if scale is None:
            scale = self._select_scale(data, d2, median)
        self.chosen_scale = scale
        self._bandwidth = median * scale
        return self

    def _select_scale(self, data: MetaDataset, d2: np.ndarray, median: float) -> float:
        """The bandwidth factor whose leave-one-task-out weights best predict each task.

        For every training task, the other tasks' response models, weighted by the
        meta-feature kernel, predict its trials; the factor with the highest mean Spearman
        correlation wins, where a narrower factor must beat the best wider one by
        ``_MIN_GAIN``. Uninformative meta-features thus select a wide kernel (near-uniform
        weights) instead of trusting noise.
        """
        n_tasks = len(data.tasks)
        if n_tasks < 3 or not self.scaler.names:
            return _SCALES[-1]
        rng = np.random.default_rng(0)
        ranks, predictions = [], []
        for history in data.tasks.values():
            rows = rng.permutation(history.n_trials)[:_LOTO_TRIALS]
            ranks.append(_centred_ranks(history.normalized_scores()[rows]))
            predictions.append(self.responses.predict(history.x[rows]))
        best, best_fit = _SCALES[-1], -math.inf
        for scale in reversed(_SCALES):  # widest first: a narrower kernel must earn its place
            kernel = np.exp(-d2 / (2.0 * (median * scale) ** 2)) if math.isfinite(scale) \
                else np.ones_like(d2)
            np.fill_diagonal(kernel, 0.0)
            fit = float(np.mean([_rank_corr(predictions[t] @ kernel[t], ranks[t])
                                 for t in range(n_tasks)]))
            if fit > best_fit + (_MIN_GAIN if math.isfinite(best_fit) else 0.0):
                best, best_fit = scale, fit
        return best

    def log_weights(self, context: TaskContext | None) -> np.ndarray:
        """Unnormalised log weights per training task (0 everywhere with no information)."""
        out = np.zeros(len(self.task_ids))
        if context is None:
            return out
        if context.meta_features is not None and self.scaler.names:
            z = self.scaler.transform(context.meta_features)
            d2 = ((self._features - z) ** 2).sum(1)
            out -= d2 / (2.0 * self._bandwidth ** 2)
        return out + self._rank_log_weights(context)

    def _rank_log_weights(self, context: TaskContext) -> np.ndarray:
        zeros = np.zeros(len(self.task_ids))
        scores = np.asarray(context.scores, dtype=np.float64)
        finite = np.isfinite(scores)
        if context.n_support < 2 or not finite.any():
            return zeros
        x = np.asarray(context.x, dtype=np.float64)
        if x.ndim != 2 or x.shape != (len(scores), self.responses.dim):
            raise MetasearchError(f"support encodings of shape {x.shape} do not match "
                                  f"{len(scores)} scores in this space")
        filled = np.where(finite, scores, scores[finite].min())  # a failure is the worst
        predicted = self.responses.predict(x)
        wrong = discordances(predicted[:, :len(self.task_ids)], filled)
        if np.isnan(wrong).all():
            return zeros
        strength = len(scores) * math.log((1.0 - self.rank_noise) / self.rank_noise)
        return -strength * (wrong - np.nanmin(wrong))

    def weights(self, context: TaskContext | None = None) -> np.ndarray:
        """Normalised weights over :attr:`task_ids` (uniform with no information)."""
        logw = self.log_weights(context)
        w = np.exp(logw - logw.max())
        return w / w.sum()

    def informative(self, context: TaskContext | None) -> bool:
        """Whether ``context`` says anything that could make the weights non-uniform."""
        return context is not None and (
            (context.meta_features is not None and bool(self.scaler.names))
            or context.n_support >= 2
        )

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"scaler.{k}": v for k, v in self.scaler.arrays().items()}
        out.update({f"responses.{k}": v for k, v in self.responses.arrays().items()})
        bandwidth = np.array([self._bandwidth, self.chosen_scale])
        return {**out, "features": self._features, "bandwidth": bandwidth}

    def settings(self) -> dict[str, Any]:
        return {"bandwidth_scale": self.bandwidth_scale, "rank_noise": self.rank_noise,
                "scaler": self.scaler.settings(), "responses": self.responses.settings()}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                ) -> TaskSimilarity:
        scale = settings["bandwidth_scale"]
        model = cls(None if scale is None else float(scale), float(settings["rank_noise"]))
        model.scaler = MetaFeatureScaler.restore(settings["scaler"], sub_arrays(arrays, "scaler."))
        model.responses = TaskResponses.restore(settings["responses"],
                                                sub_arrays(arrays, "responses."))
        model._features = np.asarray(arrays["features"], dtype=np.float64)
        model._bandwidth = float(np.asarray(arrays["bandwidth"])[0])
        model.chosen_scale = float(np.asarray(arrays["bandwidth"])[1])
        return model
