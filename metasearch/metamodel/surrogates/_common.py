"""What both transfer surrogates share: the target scale, input checks, and the one metric.

Targets are *quantile-normalized* per task: a trial's score becomes ``(rank + 1/2) / n`` among
the ``n`` trials it is normalized with (ties share their mean rank; failed trials count as the
task's worst, so they tie at the bottom). Quantiles rather than min-max or z-scores because:

* they are invariant to any monotone change of the metric (accuracy, log-loss, error rate...)
  and to outliers, so tasks whose values live on different scales look alike to the model;
* quantile-normalizing a *random subset* of a task (a few support trials, a training batch)
  gives, in expectation, the same numbers as normalizing the whole task, which min-max does
  not (a subset's maximum is not the task's); meta-training on whole-task quantiles and
  adapting on support-set quantiles thus put targets on one scale.

The one figure both surrogates report, for train and validation tasks alike so overfitting to
the meta-training tasks is visible, is :func:`support_spearman`: condition on ``k`` random
support trials of a task, predict the task's other trials, and take the Spearman rank
correlation of the posterior mean with their true scores.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
from scipy.stats import rankdata, spearmanr

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import TaskContext
from metasearch.metamodel._data import MetaDataset

__all__ = [
    "Predictor",
    "SupportAdapter",
    "check_context",
    "check_queries",
    "fill_failed",
    "lacks_trials",
    "quantile_normalize",
    "single_blas_thread",
    "spearman",
    "spread",
    "support_spearman",
]


class Predictor(Protocol):
    """A surrogate adapted to one task: mean and standard deviation at encoded configurations."""

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` of the latent normalized score at encodings ``x`` (``(m, d)``)."""
        ...


class SupportAdapter(Protocol):
    """Anything that adapts to a :class:`TaskContext` (both surrogates, and test baselines)."""

    def adapt(self, context: TaskContext) -> Predictor:
        """A predictor conditioned on ``context``'s support set."""
        ...


_BLAS: list[Any] = []


def single_blas_thread() -> AbstractContextManager[Any]:
    """A context in which BLAS/LAPACK use one thread.

    The surrogates' matrices are small (at most a few hundred rows), where BLAS threads only
    add synchronisation; on a busy machine OpenBLAS's spinning workers made a 200 x 200
    Cholesky factorisation a hundred times slower. The libraries are found once (threadpoolctl
    comes with scikit-learn) and the previous limits are restored on exit.
    """
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def fill_failed(scores: np.ndarray) -> np.ndarray:
    """Scores with NaN (failed trials) set to the worst finite score (0 if none is finite)."""
    finite = np.isfinite(scores)
    if not finite.any():
        return np.zeros_like(scores, dtype=np.float64)
    return np.where(finite, scores, scores[finite].min()).astype(np.float64)


def quantile_normalize(scores: np.ndarray) -> np.ndarray:
    """Mid-rank quantiles ``(rank + 1/2) / n`` in (0, 1), failed trials tied at the bottom."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores.copy()
    return (rankdata(fill_failed(scores)) - 0.5) / scores.size


def spearman(predicted: np.ndarray, truth: np.ndarray) -> float:
    """SciPy's Spearman rank correlation, 0 where it is undefined (either side constant)."""
    a, b = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # SciPy would warn and return NaN
        return 0.0
    rho = float(spearmanr(a, b).statistic)
    return rho if math.isfinite(rho) else 0.0


def check_queries(x: np.ndarray, dim: int) -> np.ndarray:
    """``x`` as a float ``(m, dim)`` array of finite numbers, or a MetasearchError."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1 and x.size == dim:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise MetasearchError(f"encodings of shape {x.shape} do not match this surrogate's "
                              f"{dim} encoded columns")
    if not np.isfinite(x).all():
        raise MetasearchError(f"encodings contain NaN or inf at rows "
                              f"{np.unique(np.nonzero(~np.isfinite(x))[0]).tolist()}")
    return x


def check_context(context: TaskContext, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The support set as ``(x (n, dim), quantile targets (n,))``; failed trials are worst.

    Raises:
        MetasearchError: when the encodings and scores disagree in length or width.
    """
    scores = np.asarray(context.scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        return np.zeros((0, dim)), np.zeros(0)
    x = check_queries(context.x, dim)
    if len(x) != scores.size:
        raise MetasearchError(f"support set has {len(x)} encodings but {scores.size} scores")
    if np.isinf(scores).any():
        raise MetasearchError(f"support scores must be finite or NaN, got {scores.tolist()}")
    return x, quantile_normalize(scores)


def _task_seed(seed: int, task: str) -> int:
    return zlib.crc32(f"support/{seed}/{task}".encode())


def support_spearman(model: SupportAdapter, data: MetaDataset, *, n_support: int = 5,
                     n_draws: int = 3, seed: int = 0, max_tasks: int | None = None
                     ) -> tuple[float, list[float]]:
    """Mean Spearman correlation on a task's other trials after ``n_support`` random ones.

    For each task (the first ``max_tasks`` in order) and each of ``n_draws`` seeded draws, the
    model adapts to ``n_support`` random trials (failed ones included, as NaN scores, as a
    search would see them) and predicts the remaining trials; the posterior mean is compared
    with their filled scores. The draws depend only on ``seed`` and the task id, so two models
    scored with one seed see the same support sets.

    Returns:
        the mean over tasks and draws, and the per-task means.
    """
    per_task: list[float] = []
    for task in list(data.tasks)[:max_tasks]:
        history = data.tasks[task]
        if history.n_trials < n_support + 2:
            continue
        rng = np.random.default_rng(_task_seed(seed, task))
        truth = history.filled_scores()
        values = []
        for _ in range(n_draws):
            order = rng.permutation(history.n_trials)
            support, query = order[:n_support], order[n_support:]
            context = TaskContext(history.meta_features, history.x[support],
                                  history.scores[support])
            mean, _ = model.adapt(context).predict(history.x[query])
            values.append(spearman(mean, truth[query]))
        per_task.append(float(np.mean(values)))
    if not per_task:
        raise MetasearchError(f"no task in {data.family!r} has more than {n_support + 1} trials "
                              "to score a surrogate on")
    return float(np.mean(per_task)), per_task


def lacks_trials(data: MetaDataset, what: str, n_support: int = 5) -> str | None:
    """Why ``data`` cannot fit (every task needs 2 trials) or score (one task needs
    ``n_support + 2``) a per-task surrogate ``what``; None when it can."""
    if not data.tasks:
        return "no tasks"
    few = sorted(t for t, h in data.tasks.items() if h.n_trials < 2)
    if few:
        return f"{what} needs at least 2 trials per task; {', '.join(few)} have fewer"
    if all(h.n_trials < n_support + 2 for h in data.tasks.values()):
        return (f"{what} is scored on tasks with at least {n_support + 2} trials; every task "
                "has fewer")
    return None


def spread(values: Sequence[float]) -> str:
    """``mean ± standard error`` for reports and test messages."""
    arr = np.asarray(values, dtype=np.float64)
    sem = arr.std(ddof=1) / math.sqrt(arr.size) if arr.size > 1 else 0.0
    return f"{arr.mean():.3f} ± {sem:.3f} (n={arr.size})"
