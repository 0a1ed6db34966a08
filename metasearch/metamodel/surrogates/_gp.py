"""A small exact Gaussian process in numpy: the per-task models of RGPE and the cold baseline.

An isotropic Matern-5/2 kernel (the default of most BO libraries: twice differentiable, less
smooth than the RBF, which suits validation-score surfaces) with a constant mean equal to the
targets' mean. Lengthscale, signal variance and noise are fitted by type-II maximum likelihood
(L-BFGS-B on their logs with analytic gradients, inside bounds that keep the Cholesky factor
well conditioned). Inputs are expected on a common scale (the caller multiplies encodings by
:meth:`~metasearch.metamodel._features.EncodingLayout.distance_scale`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import minimize

from metasearch.metamodel.surrogates._kernels import SQRT5, matern52

__all__ = ["GaussianProcess"]

LOG_BOUNDS = ((math.log(0.05), math.log(20.0)),   # lengthscale
              (math.log(1e-3), math.log(10.0)),   # signal variance
              (math.log(1e-4), math.log(1.0)))    # noise variance
"""Box for the log hyperparameters: wide enough for quantile targets on the scaled encoding."""

def _dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def _nll_and_grad(log_theta: np.ndarray, dists: np.ndarray, y: np.ndarray
                  ) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood and its gradient in the log hyperparameters."""
    ell, signal, noise = np.exp(log_theta)
    u = SQRT5 * dists / ell
    corr = matern52(u)
    k = signal * corr + noise * np.eye(len(y))
    try:
        chol = np.linalg.cholesky(k)
    except np.linalg.LinAlgError:
        return 1e10, np.zeros(3)
    alpha = cho_solve((chol, True), y)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum()) \
        + 0.5 * len(y) * math.log(2 * math.pi)
    inner = cho_solve((chol, True), np.eye(len(y))) - np.outer(alpha, alpha)
    d_ell = signal * (u * u / 3.0) * (1.0 + u) * np.exp(-u)
    grad = 0.5 * np.array([(inner * d_ell).sum(), (inner * (signal * corr)).sum(),
                           noise * np.trace(inner)])
    return nll, grad


class GaussianProcess:
    """Exact GP regression on ``(x, y)`` with ML-II hyperparameters (or given ones).

    Args:
        x: inputs ``(n, d)``, already scaled.
        y: targets ``(n,)``.
        log_theta: log (lengthscale, signal variance, noise variance); fitted when None.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, log_theta: np.ndarray | None = None
                 ) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.mean = float(self.y.mean()) if self.y.size else 0.5
        centred = self.y - self.mean
        dists = _dists(self.x, self.x)
        if log_theta is None:
            log_theta = self._fit(dists, centred)
        self.log_theta = np.asarray(log_theta, dtype=np.float64)
        self.lengthscale, self.signal, self.noise = (float(v) for v in np.exp(self.log_theta))
        corr = matern52(SQRT5 * dists / self.lengthscale)
        k = self.signal * corr + self.noise * np.eye(len(self.y))
        self._chol = np.linalg.cholesky(k) if self.y.size else np.zeros((0, 0))
        self._alpha = cho_solve((self._chol, True), centred) if self.y.size else np.zeros(0)

    def _fit(self, dists: np.ndarray, centred: np.ndarray) -> np.ndarray:
        """ML-II from a median-heuristic start; the start itself when there is too little data."""
        n = len(centred)
        pairs = dists[np.triu_indices(n, 1)]
        ell = float(np.median(pairs)) if pairs.size else 1.0
        var = max(float(centred.var()), 1e-2) if n else 1e-2
        start = np.clip(np.log([max(ell, 1e-3), var, 0.1 * var]),
                        [b[0] for b in LOG_BOUNDS], [b[1] for b in LOG_BOUNDS])
        if n < 2:
            return start
        result = minimize(_nll_and_grad, start, args=(dists, centred), jac=True,
                          method="L-BFGS-B", bounds=LOG_BOUNDS, options={"maxiter": 100})
        return np.asarray(result.x if np.isfinite(result.fun) else start)

    def cross(self, x: np.ndarray) -> np.ndarray:
        """Kernel between ``x`` and the training inputs, ``(m, n)``."""
        dists = _dists(np.asarray(x, dtype=np.float64), self.x)
        return self.signal * matern52(SQRT5 * dists / self.lengthscale)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at ``x``."""
        if not self.y.size:
            return np.full(len(x), self.mean), np.full(len(x), math.sqrt(self.signal))
        cross = self.cross(x)
        v = solve_triangular(self._chol, cross.T, lower=True)
        var = np.maximum(self.signal - (v * v).sum(0), 1e-12)
        return self.mean + cross @ self._alpha, np.sqrt(var)

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint posterior mean and covariance of the latent function at ``x``."""
        x = np.asarray(x, dtype=np.float64)
        prior = self.signal * matern52(SQRT5 * _dists(x, x) / self.lengthscale)
        if not self.y.size:
            return np.full(len(x), self.mean), prior
        cross = self.cross(x)
        v = solve_triangular(self._chol, cross.T, lower=True)
        return self.mean + cross @ self._alpha, prior - v.T @ v

    def loo(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out predictive means and variances of the training targets (closed form).

        With ``K^-1`` the inverse noisy kernel: ``mu_-i = y_i - alpha_i / [K^-1]_ii`` and
        ``var_-i = 1 / [K^-1]_ii`` (Rasmussen & Williams, eq. 5.12).
        """
        inverse_diag = np.diag(cho_solve((self._chol, True), np.eye(len(self.y))))
        return self.y - self._alpha / inverse_diag, 1.0 / inverse_diag
