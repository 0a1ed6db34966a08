"""How tasks are compared: scaled meta-features and task similarity.

:class:`MetaFeatureScaler` and :class:`TaskSimilarity` turn a new task's meta-features and
support set into weights over the training tasks.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import TaskContext, sub_arrays
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._relevance import FeatureRelevance, kernel_weights, learn_relevance
from metasearch.metamodel._responses import TaskResponses, _sq_dists
from metasearch.metamodel._scaling import MetaFeatureScaler, UnknownFeatureWarning

__all__ = ["MetaFeatureScaler", "TaskSimilarity", "UnknownFeatureWarning", "discordances",
           "warn_unknown_features"]

def warn_unknown_features(similarities: Iterable[TaskSimilarity | None],
                          features: Mapping[str, Any] | None, stacklevel: int = 3) -> list[str]:
    """Warn once about the given meta-features that none of ``similarities`` was fitted with.

    Such a feature changes nothing (there is no training task to compare it with); saying so
    beats dropping it silently, where a misspelt name would look like a feature that matters.

    Returns:
        The unknown names, sorted (empty when all are known or none are given).
    """
    if not features:
        return []
    fitted = [s for s in similarities if s is not None]
    known = {n for s in fitted for n in s.scaler.names}
    unknown = sorted(set(features) - known)
    if unknown:
        trained = ", ".join(sorted(known)) or "none"
        warnings.warn(f"meta-features {', '.join(unknown)} are not among those the model was "
                      f"trained with ({trained}): they are not used",
                      UnknownFeatureWarning, stacklevel=stacklevel)
    return unknown


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


_PER_TASK = 3
"""Best trials of each training task that are the candidates of the relevance criterion."""


def _top_per_task(data: MetaDataset, per_task: int) -> tuple[np.ndarray, np.ndarray]:
    """Encodings of each task's ``per_task`` best completed trials, and their task index."""
    rows, owners = [], []
    for t, history in enumerate(data.tasks.values()):
        ranked = [int(i) for i in np.argsort(-history.filled_scores(), kind="stable")
                  if history.ok[i]][:per_task]
        rows += [history.x[i] for i in ranked]
        owners += [t] * len(ranked)
    if not rows:
        return np.zeros((0, data.space.encoding_length)), np.zeros(0, dtype=np.int64)
    return np.stack(rows), np.asarray(owners, dtype=np.int64)


class TaskSimilarity:
    """Weights over the training tasks for a new task: near in meta-features, alike in ranking.

    Two sources of evidence, multiplied (added in log space) and normalised:

    * meta-features: a kernel on the scaled meta-features (:class:`MetaFeatureScaler`),
      ``exp(-sum_j (r_j (f_j - q_j))^2 / 2)`` with one relevance ``r_j`` per feature, mixed
      with uniform weights by a learned share. Unless a ``bandwidth_scale`` fixes one
      isotropic kernel (the median pairwise distance times the scale), the relevances are
      learned by :func:`~metasearch.metamodel._relevance.learn_relevance`: leave-one-task-out
      warm starts on the training tasks, where a feature earns a non-zero relevance only if
      weighting by it makes held-out portfolios better than uniform ones; features that carry
      nothing thus leave the weights uniform.
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
        bandwidth_scale: fixes an isotropic kernel of this many median distances; None
            learns per-feature relevances.
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
        self.raw_features = np.zeros((0, 0))
        self.learned = FeatureRelevance(np.zeros(0))

    @property
    def task_ids(self) -> list[str]:
        return self.responses.task_ids

    @property
    def relevance(self) -> np.ndarray:
        """Per scaled column (:attr:`MetaFeatureScaler.columns`), 1 / lengthscale; 0 ignored."""
        return self.learned.relevance

    def fit(self, data: MetaDataset,
            candidates: tuple[np.ndarray, np.ndarray] | None = None) -> TaskSimilarity:
        """Fit the response models and scaler, and learn how far to trust each feature.

        Args:
            data: the training tasks.
            candidates: encodings of the configurations a warm start would choose among and
                the index of the task each came from (default: every task's 3 best trials);
                the relevance criterion scores portfolios of them.
        """
        self.responses.fit(data)
        features = {t: h.meta_features for t, h in data.tasks.items()}
        self.scaler.fit(features)
        self.raw_features = self.scaler.raw(features, self.scaler.names)
        self._features = np.stack([self.scaler.transform_stored(h.meta_features, t)
                                   for t, h in data.tasks.items()])
        if self.bandwidth_scale is not None:
            self.learned = FeatureRelevance(self._isotropic(self.bandwidth_scale))
            return self
        x, owner = candidates if candidates is not None else _top_per_task(data, _PER_TASK)
        scores = np.clip(self.responses.predict(x), 0.0, 1.0) if len(x) \
            else np.zeros((0, len(data.tasks)))
        self.learned = learn_relevance(self._features, scores, owner)
        return self

    def _isotropic(self, scale: float) -> np.ndarray:
        """Equal relevance ``1 / (median pairwise distance * scale)`` for every column."""
        d2 = _sq_dists(self._features, self._features)
        pairs = d2[np.triu_indices(len(self._features), 1)]
        median = max(math.sqrt(float(np.median(pairs))) if pairs.size else 1.0, 1e-6)
        return np.full(self._features.shape[1], 1.0 / (median * scale))

    def feature_relevance(self) -> dict[str, float]:
        """Relevance by scaled column name (0: the feature does not change the weights)."""
        return {name: float(r) for name, r in zip(self.scaler.columns, self.relevance,
                                                  strict=True)}

    def log_weights(self, context: TaskContext | None) -> np.ndarray:
        """Unnormalised log weights per training task (0 everywhere with no information)."""
        out = np.zeros(len(self.task_ids))
        if context is None:
            return out
        if context.meta_features is not None and self.learned.used:
            z = self.scaler.transform(context.meta_features)
            kernel = kernel_weights(self._features, z, self.relevance, self.learned.mix)
            out += np.log(np.maximum(kernel, 1e-300))
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
            (context.meta_features is not None and self.learned.used)
            or context.n_support >= 2
        )

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"scaler.{k}": v for k, v in self.scaler.arrays().items()}
        out.update({f"responses.{k}": v for k, v in self.responses.arrays().items()})
        return {**out, "features": self._features, "raw_features": self.raw_features,
                "relevance": self.relevance}

    def settings(self) -> dict[str, Any]:
        """Settings, and what was learned: per-feature relevance, mixing share, LOO regrets."""
        return {"bandwidth_scale": self.bandwidth_scale, "rank_noise": self.rank_noise,
                "scaler": self.scaler.settings(), "responses": self.responses.settings(),
                "feature_mix": self.learned.mix,
                "feature_relevance": self.feature_relevance(),
                "loo_uniform": self.learned.uniform, "loo_features": self.learned.learned}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                ) -> TaskSimilarity:
        """Rebuild; a model saved before relevances were learned keeps its one bandwidth."""
        scale = settings["bandwidth_scale"]
        model = cls(None if scale is None else float(scale), float(settings["rank_noise"]))
        model.scaler = MetaFeatureScaler.restore(settings["scaler"], sub_arrays(arrays, "scaler."))
        model.responses = TaskResponses.restore(settings["responses"],
                                                sub_arrays(arrays, "responses."))
        model._features = np.asarray(arrays["features"], dtype=np.float64)
        model.raw_features = np.asarray(arrays.get("raw_features", np.zeros((0, 0))),
                                        dtype=np.float64)
        if "relevance" in arrays:
            relevance = np.asarray(arrays["relevance"], dtype=np.float64)
        else:  # [bandwidth, scale] of an older model: one isotropic kernel (inf: none)
            bandwidth = float(np.asarray(arrays["bandwidth"])[0])
            relevance = np.full(model._features.shape[1], 1.0 / bandwidth)
        model.learned = FeatureRelevance(
            relevance, float(settings.get("feature_mix", 1.0)),
            dict(settings.get("loo_uniform", {})), dict(settings.get("loo_features", {})))
        return model
