"""The task's own evidence: a GP fitted on the support set alone, and its blend with a surrogate.

A meta-learned surrogate knows the past tasks; after some dozens of trials the new task knows
itself better. So the surrogate is weighed against a GP fitted on the task's trials only, by
the probability that each ranks those trials best (RGPE's ranking-loss weights: Feurer, Letham
& Bakshy, arXiv:1802.02219), both judged by their leave-one-out predictions so that neither
wins by having seen the trial it is scored on. The blend's mean and variance are those of the
mixture of the two posteriors (law of total variance), so a disagreement between them shows
as uncertainty instead of being averaged away.

The target GP has one lengthscale per encoded column (ARD: a task's response depends on a few
hyperparameters, and which ones is what it learns) with BoTorch's dimension-scaled log-normal
prior on the lengthscales (Hvarfner, Hellsten & Nardi, "Vanilla Bayesian optimization
performs great in high dimensions", ICML 2024), so that a handful of trials in thirty
one-hot columns does not fit thirty tiny lengthscales.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, lapack, solve_triangular
from scipy.optimize import minimize
from scipy.spatial.distance import squareform

from metasearch.metamodel._component import TaskContext
from metasearch.metamodel.surrogates._common import (
    Predictor,
    SupportAdapter,
    check_context,
    check_queries,
    fill_failed,
    single_blas_thread,
)
from metasearch.metamodel.surrogates._kernels import SQRT5, matern52
from metasearch.metamodel.surrogates._rgpe import ranking_losses

__all__ = ["ArdGP", "BlendPredictor", "TargetBlend", "loo_rank_weights", "own_gp"]

MIN_TARGET_TRIALS = 3
"""Support trials below which the target GP is not fitted (the surrogate alone predicts)."""
TARGET_CAP = 100
"""Support trials the target GP is fitted on at most (evenly spaced in rank, best included):
fitting ARD hyperparameters costs ``O(n^3)`` per step, and a study of 1,000 trials must not
make each suggestion cost seconds."""
FIT_FTOL = 1e-4
"""L-BFGS stops when a step improves the negative log posterior by less than this fraction of
its size (at least 1; it is of order 10 on the benchmark's studies, so about a thousandth of a
nat). Hyperparameters that close to the optimum predict alike: on the suggestion benchmark's
1,000-trial study they ended within 0.003 nats and 0.06 in every log lengthscale of SciPy's
default (``2.2e-9``), and on 1,000-trial studies of three synthetic tasks they ranked held-out
configurations within 0.002 Spearman of it; the default took about 50 likelihood evaluations
there, this about 28."""
_LOG_SIGNAL = (math.log(0.05), math.log(20.0))
_LOG_NOISE = (math.log(1e-6), math.log(1.0))
_LOG_ELL = (math.log(1e-2), math.log(1e2))


def _weighted_sq_dist(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_k weights_k (a_ik - b_jk)^2``, ``(len(a), len(b))``.

    Accumulated one column at a time: no ``(len(a), len(b), d)`` array (five times faster for a
    thousand queries), and every entry is computed alike wherever its row sits in ``a``, so
    two queries that encode alike score exactly alike in any batch. A column's term depends on
    its query value alone, so where a column takes few distinct values (a local search's
    neighbours share all but one parameter with their climb; one-hot columns are 0 or 1) each
    value's row of terms is computed once and gathered: the same numbers added in the same
    order, about half the passes over the ``(len(a), len(b))`` array.
    """
    out = np.zeros((len(a), len(b)))
    scratch = np.empty_like(out)
    ordered = np.sort(a, axis=0)  # each column's distinct values, for all columns at once
    first = np.ones(ordered.shape, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    for k, weight in enumerate(weights):
        values = ordered[first[:, k], k]
        if 2 * len(values) <= len(a):
            terms = _column_terms(values, b[:, k], weight)
            rows = np.searchsorted(values, a[:, k])
            out += np.take(terms, rows, axis=0, out=scratch, mode="clip")  # in range
        else:
            out += _column_terms(a[:, k], b[:, k], weight, scratch)
    return out


def _column_terms(a: np.ndarray, b: np.ndarray, weight: float,
                  out: np.ndarray | None = None) -> np.ndarray:
    """``weight (a_i - b_j)^2`` of one column, ``(len(a), len(b))`` (in ``out`` when given)."""
    diff = np.subtract.outer(a, b, out=out)
    diff *= diff
    diff *= weight
    return diff


class ArdGP:
    """Exact GP with an ARD Matern-5/2 kernel on standardized targets, hyperparameters by MAP.

    The likelihood is evaluated on the ``n (n - 1) / 2`` distinct pairs of training points:
    their per-column squared differences are computed once, so each L-BFGS step's squared
    distances and lengthscale gradient are two matrix-vector products instead of passes over
    an ``(n, n, d)`` array (the same sums; each step about twice as fast at 100 points).

    Args:
        x: inputs ``(n, d)`` (encodings in [0, 1]).
        y: targets ``(n,)``.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self._mu = float(y.mean())
        self._sd = float(y.std()) or 1.0
        self.y = (y - self._mu) / self._sd
        n, d = self.x.shape
        self._prior_loc = math.sqrt(2.0) + 0.5 * math.log(max(d, 1))
        self._prior_scale = math.sqrt(3.0)
        self._pairs = np.triu_indices(n, 1)
        # Where entry [high, low] of an (n, n) matrix lies in its transpose read row by row:
        # potri's inverse is Fortran-ordered, so its transpose is gathered from without a copy.
        self._lower_in_transpose = self._pairs[0] * n + self._pairs[1]
        diff = self.x[self._pairs[0]] - self.x[self._pairs[1]]
        self._pair_sq = diff * diff
        self.log_theta = self._fit()
        self._ell = np.exp(self.log_theta[:d])
        self._signal, self._noise = (float(v) for v in np.exp(self.log_theta[d:]))
        corr = squareform(matern52(SQRT5 * self._pair_r(self._ell ** -2.0)), checks=False)
        self._chol = np.linalg.cholesky(self._signal * corr + (self._signal + self._noise)
                                        * np.eye(n))
        self._alpha = cho_solve((self._chol, True), self.y)

    def _pair_r(self, inverse_sq_ell: np.ndarray) -> np.ndarray:
        """Scaled distances of the training pairs."""
        return np.sqrt(np.maximum(self._pair_sq @ inverse_sq_ell, 0.0))

    def _objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log posterior of the hyperparameters (marginal likelihood + ell prior).

        Everything is kept per pair: the kernel is symmetric with a unit-correlation diagonal,
        so sums over the matrix are the diagonal plus twice the pairs, and the inverse is only
        needed in its lower triangle (LAPACK's ``potri`` from the Cholesky factor).
        """
        d, n = self.x.shape[1], len(self.y)
        inverse_sq_ell = np.exp(-2.0 * theta[:d])
        signal, noise = math.exp(theta[d]), math.exp(theta[d + 1])
        u = SQRT5 * self._pair_r(inverse_sq_ell)
        decay = np.exp(-u)
        corr = (1.0 + u + u * u / 3.0) * decay  # matern52(u), its exp kept for the gradient
        k = squareform(corr, checks=False)  # symmetric, so its transpose is k, Fortran-ordered
        k *= signal
        k.flat[::n + 1] = signal + noise + 1e-9
        chol, info = lapack.dpotrf(k.T, lower=1, clean=1, overwrite_a=1)  # numpy's factor
        if info != 0:
            return 1e10, np.zeros_like(theta)
        alpha = lapack.dpotrs(chol, self.y, lower=1)[0]  # cho_solve's, without its checks
        z = (theta[:d] - self._prior_loc) / self._prior_scale
        value = 0.5 * float(self.y @ alpha) + float(np.log(np.diag(chol)).sum()) \
            + 0.5 * float(z @ z)
        inverse, info = lapack.dpotri(chol, lower=1)
        if info != 0:
            return 1e10, np.zeros_like(theta)
        low, high = self._pairs
        inner_pairs = np.take(inverse.T, self._lower_in_transpose) - alpha[low] * alpha[high]
        inner_diag = np.diag(inverse) - alpha * alpha
        # dk/dlog ell_k = signal (5/3) (1 + u) exp(-u) (dx_k / ell_k)^2, each pair twice
        common = signal * (5.0 / 3.0) * (1.0 + u) * decay * inner_pairs
        grad = np.empty_like(theta)
        grad[:d] = (common @ self._pair_sq) * inverse_sq_ell + z / self._prior_scale
        grad[d] = 0.5 * signal * float(inner_diag.sum() + 2.0 * (inner_pairs @ corr))
        grad[d + 1] = 0.5 * noise * float(inner_diag.sum())
        return value, grad

    def _fit(self) -> np.ndarray:
        d = self.x.shape[1]
        start = np.concatenate([np.full(d, self._prior_loc), [0.0, math.log(1e-2)]])
        start = np.clip(start, _LOG_ELL[0], _LOG_ELL[1])
        bounds = [_LOG_ELL] * d + [_LOG_SIGNAL, _LOG_NOISE]
        result = minimize(self._objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": 50, "ftol": FIT_FTOL})
        return np.asarray(result.x if np.isfinite(result.fun) else start)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function, in ``y``'s units."""
        r2 = _weighted_sq_dist(np.asarray(x, dtype=np.float64), self.x, self._ell ** -2.0)
        cross = self._signal * matern52(SQRT5 * np.sqrt(np.maximum(r2, 0.0)))
        v = solve_triangular(self._chol, cross.T, lower=True)
        var = np.maximum(self._signal - (v * v).sum(0), 1e-12)
        return self._mu + self._sd * (cross @ self._alpha), self._sd * np.sqrt(var)

    def loo(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out predictive means and variances of the targets (Rasmussen & Williams
        eq. 5.12), in ``y``'s units."""
        inverse_diag = np.diag(cho_solve((self._chol, True), np.eye(len(self.y))))
        mean = self.y - self._alpha / inverse_diag
        return self._mu + self._sd * mean, self._sd ** 2 / inverse_diag


def loo_rank_weights(loos: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray,
                     n_samples: int = 256, seed: int = 0) -> np.ndarray:
    """The share of leave-one-out samples in which each model orders ``y`` best.

    Each model's leave-one-out predictive ``(mean, variance)`` at the support points is sampled
    ``n_samples`` times; a sample's loss is its number of misordered pairs (RGPE's ranking
    loss). A tie goes to the model listed first (the meta-learned surrogate, in
    :class:`TargetBlend`): a later model takes weight only from samples in which it orders the
    task's trials strictly better, out of sample. With a handful of trials there are few pairs
    and the losses tie often; breaking those ties at random gave a GP fitted on five to ten
    points in seven dimensions a third to a half of the blend from coin flips (median weight
    0.3 to 0.6 over trials 5 to 19 on ``synthetic``, ``benchmarks/acquisition_trace.py``), and
    the sampler without the blend ended ahead of the sampler with it.
    """
    rng = np.random.default_rng(seed)
    losses = np.empty((len(loos), n_samples))
    for i, (mean, var) in enumerate(loos):
        draws = mean + np.sqrt(np.maximum(var, 0.0)) * rng.standard_normal((n_samples, len(y)))
        losses[i] = ranking_losses(draws, y)
    winners = np.argmin(losses, axis=0)  # the first of the tied
    return np.bincount(winners, minlength=len(loos)) / n_samples


def _even_in_rank(y: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` indices of ``y``, evenly spaced in rank with the best kept; all if fewer."""
    if len(y) <= cap:
        return np.arange(len(y))
    order = np.argsort(-y, kind="stable")
    return np.sort(order[np.unique(np.round(np.linspace(0, len(y) - 1, cap)).astype(int))])


def own_gp(context: TaskContext, dim: int) -> ArdGP | None:
    """A GP fitted on the support set's own values, in their units (standardized, as Optuna's
    ``GPSampler`` fits its GP; failed trials at the worst value); None with fewer than
    :data:`MIN_TARGET_TRIALS` trials or all of them tied.

    :class:`TargetBlend`'s GP is fitted on the values' quantiles, the scale the meta-learned
    surrogate shares with it. Quantiles keep the order and drop the sizes: a cluster of
    trials a tenth of a point apart near the best spans as many quantiles as the whole
    space's spread, so that GP sees a steep slope where the task is flat and its expected
    improvement keeps refining the cluster (``yahpo-rbv2_rpart``, the tenth pass in
    ``docs/issue-13-passes.md``). In the values' own units the cluster is flat, and the improvement
    lies where the GP is unsure.
    """
    x, _ = check_context(context, dim)
    y = fill_failed(np.asarray(context.scores, dtype=np.float64).reshape(-1))
    if len(y) < MIN_TARGET_TRIALS or np.ptp(y) == 0:
        return None
    rows = _even_in_rank(y, TARGET_CAP)
    with single_blas_thread():
        return ArdGP(x[rows], y[rows])


class BlendPredictor:
    """The mixture of a surrogate's and the target GP's posteriors with fixed weights.

    Attributes:
        weights: the surrogate's weight, then the target GP's (they sum to 1).
    """

    def __init__(self, surrogate: Predictor, target: ArdGP | None, weights: np.ndarray,
                 dim: int) -> None:
        self.surrogate, self.target, self.weights, self._dim = surrogate, target, weights, dim

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mixture mean ``sum w_i mu_i`` and std ``sqrt(sum w_i (var_i + mu_i^2) - mean^2)``."""
        x = check_queries(x, self._dim)
        mean_s, std_s = self.surrogate.predict(x)
        if self.target is None or self.weights[1] == 0.0:
            return np.asarray(mean_s), np.asarray(std_s)
        with single_blas_thread():
            mean_t, std_t = self.target.predict(x)
        if self.weights[0] == 0.0:
            return mean_t, std_t
        w_s, w_t = self.weights
        mean = w_s * mean_s + w_t * mean_t
        second = w_s * (std_s ** 2 + mean_s ** 2) + w_t * (std_t ** 2 + mean_t ** 2)
        return mean, np.sqrt(np.maximum(second - mean * mean, 1e-12))


class TargetBlend:
    """A surrogate that keeps learning from the task: blended with a target-only GP.

    ``adapt(context)`` adapts the wrapped surrogate (which must give its predictor a ``loo()``
    of the support set, as FSBO's does), fits an :class:`ArdGP` on the support set, and
    weights the two by :func:`loo_rank_weights`. With fewer than :data:`MIN_TARGET_TRIALS`
    support trials the surrogate alone predicts. Adaptation is deterministic.

    Args:
        surrogate: the meta-learned surrogate.
        dim: width of the encodings.
        n_samples: leave-one-out samples per model for the ranking weights.
    """

    def __init__(self, surrogate: SupportAdapter, dim: int, n_samples: int = 256) -> None:
        self.surrogate, self.dim, self.n_samples = surrogate, dim, n_samples

    def adapt(self, context: TaskContext) -> BlendPredictor:
        predictor: Any = self.surrogate.adapt(context)
        x, y = check_context(context, self.dim)
        if len(y) < MIN_TARGET_TRIALS or np.ptp(y) == 0 or not hasattr(predictor, "loo"):
            return BlendPredictor(predictor, None, np.array([1.0, 0.0]), self.dim)
        rows = _even_in_rank(y, TARGET_CAP)
        with single_blas_thread():
            target = ArdGP(x[rows], y[rows])
            surrogate_loo = tuple(v[rows] for v in predictor.loo())
            weights = loo_rank_weights([surrogate_loo, target.loo()], y[rows], self.n_samples)
        return BlendPredictor(predictor, target, weights, self.dim)
