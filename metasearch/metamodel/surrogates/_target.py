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
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import minimize

from metasearch.metamodel._component import TaskContext
from metasearch.metamodel.surrogates._common import (
    Predictor,
    SupportAdapter,
    check_context,
    check_queries,
    single_blas_thread,
)
from metasearch.metamodel.surrogates._kernels import SQRT5, matern52
from metasearch.metamodel.surrogates._rgpe import ranking_losses

__all__ = ["ArdGP", "BlendPredictor", "TargetBlend", "loo_rank_weights"]

MIN_TARGET_TRIALS = 3
"""Support trials below which the target GP is not fitted (the surrogate alone predicts)."""
TARGET_CAP = 100
"""Support trials the target GP is fitted on at most (evenly spaced in rank, best included):
fitting ARD hyperparameters costs ``O(n^3)`` per step, and a study of 1,000 trials must not
make each suggestion cost seconds."""
_LOG_SIGNAL = (math.log(0.05), math.log(20.0))
_LOG_NOISE = (math.log(1e-6), math.log(1.0))
_LOG_ELL = (math.log(1e-2), math.log(1e2))


def _scaled_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column squared differences ``(len(a), len(b), d)``."""
    diff = a[:, None, :] - b[None, :, :]
    return diff * diff


class ArdGP:
    """Exact GP with an ARD Matern-5/2 kernel on standardized targets, hyperparameters by MAP.

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
        d = self.x.shape[1]
        self._prior_loc = math.sqrt(2.0) + 0.5 * math.log(max(d, 1))
        self._prior_scale = math.sqrt(3.0)
        self._sq = _scaled_sq(self.x, self.x)
        self.log_theta = self._fit()
        self._ell = np.exp(self.log_theta[:d])
        self._signal, self._noise = (float(v) for v in np.exp(self.log_theta[d:]))
        k = self._kernel(self._sq) + self._noise * np.eye(len(self.y))
        self._chol = np.linalg.cholesky(k)
        self._alpha = cho_solve((self._chol, True), self.y)

    def _kernel(self, sq: np.ndarray, ell: np.ndarray | None = None,
                signal: float | None = None) -> np.ndarray:
        ell = self._ell if ell is None else ell
        signal = self._signal if signal is None else signal
        r = np.sqrt(np.maximum((sq / (ell * ell)).sum(-1), 0.0))
        return signal * matern52(SQRT5 * r)

    def _objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log posterior of the hyperparameters (marginal likelihood + ell prior)."""
        d = self.x.shape[1]
        ell, signal, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
        scaled = self._sq / (ell * ell)
        r = np.sqrt(np.maximum(scaled.sum(-1), 0.0))
        u = SQRT5 * r
        corr = matern52(u)
        n = len(self.y)
        try:
            chol = np.linalg.cholesky(signal * corr + (noise + 1e-9) * np.eye(n))
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((chol, True), self.y)
        z = (theta[:d] - self._prior_loc) / self._prior_scale
        value = 0.5 * float(self.y @ alpha) + float(np.log(np.diag(chol)).sum()) \
            + 0.5 * float(z @ z)
        inner = cho_solve((chol, True), np.eye(n)) - np.outer(alpha, alpha)
        # dk/dlog ell_k = signal (5/3) (1 + u) exp(-u) (dx_k / ell_k)^2
        common = signal * (5.0 / 3.0) * (1.0 + u) * np.exp(-u) * inner
        grad = np.empty_like(theta)
        grad[:d] = 0.5 * np.einsum("ij,ijk->k", common, scaled) + z / self._prior_scale
        grad[d] = 0.5 * float((inner * (signal * corr)).sum())
        grad[d + 1] = 0.5 * noise * float(np.trace(inner))
        return value, grad

    def _fit(self) -> np.ndarray:
        d = self.x.shape[1]
        start = np.concatenate([np.full(d, self._prior_loc), [0.0, math.log(1e-2)]])
        start = np.clip(start, _LOG_ELL[0], _LOG_ELL[1])
        bounds = [_LOG_ELL] * d + [_LOG_SIGNAL, _LOG_NOISE]
        result = minimize(self._objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": 50})
        return np.asarray(result.x if np.isfinite(result.fun) else start)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function, in ``y``'s units."""
        cross = self._kernel(_scaled_sq(np.asarray(x, dtype=np.float64), self.x))
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
    loss); ties between models are broken at random.
    """
    rng = np.random.default_rng(seed)
    losses = np.empty((len(loos), n_samples))
    for i, (mean, var) in enumerate(loos):
        draws = mean + np.sqrt(np.maximum(var, 0.0)) * rng.standard_normal((n_samples, len(y)))
        losses[i] = ranking_losses(draws, y)
    winners = np.argmin(losses + 0.5 * rng.random(losses.shape), axis=0)
    return np.bincount(winners, minlength=len(loos)) / n_samples


def _even_in_rank(y: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` indices of ``y``, evenly spaced in rank with the best kept; all if fewer."""
    if len(y) <= cap:
        return np.arange(len(y))
    order = np.argsort(-y, kind="stable")
    return np.sort(order[np.unique(np.round(np.linspace(0, len(y) - 1, cap)).astype(int))])


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
