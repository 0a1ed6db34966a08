"""Recalibrating the curve model on the study at hand, from its own finished curves.

The model's standard deviation is calibrated on the validation tasks of meta-training, pooled
over every trial: on a new task its predictions can still be biased (finals systematically
above what it predicts, as on held-out ``synthetic`` tasks, where the true finals of trials
that went on to beat the incumbent sat 2 to 3 predicted standard deviations above the mean
after the first epochs). Every finished trial of the study says how wrong the model would have
been about it: cut its curve after ``k`` steps, predict its final from the other finished
trials (leave-one-out) and compare. Those standardised residuals give the study's own shift
and spread of the error at that prefix length, shrunk towards a calibrated model while they
are few (the posterior mean of a normal model with ``prior_count`` pseudo-residuals of zero
mean and unit variance), the practice of conformal and post-hoc recalibration (Kuleshov et
al., 2018) applied per task.

Only corrections towards caution are kept (the shift only raises the mean, the scale only
widens): a wrong stop loses the trial, a missed one costs epochs, and the finished trials are
the ones the pruner let through, a selection that flatters the model's optimistic errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasearch.errors import MetasearchError

__all__ = ["Recalibration"]


@dataclass(frozen=True)
class Recalibration:
    """A correction of a predicted final's distribution: ``N(mean + shift std, (scale std)^2)``.

    Attributes:
        shift: added to the mean, in predicted standard deviations (>= 0).
        scale: factor on the standard deviation (>= 1).
        n: residuals it was estimated from.
    """

    shift: float = 0.0
    scale: float = 1.0
    n: int = 0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.shift) and self.shift >= 0):
            raise MetasearchError(f"shift must be finite and >= 0, got {self.shift!r}")
        if not (np.isfinite(self.scale) and self.scale >= 1):
            raise MetasearchError(f"scale must be finite and >= 1, got {self.scale!r}")

    @classmethod
    def from_residuals(cls, z: np.ndarray, prior_count: float) -> Recalibration:
        """Shift and scale from standardised residuals ``(truth - mean) / std`` (NaN skipped).

        With ``m`` residuals the shift is ``sum(z) / (m + prior_count)`` and the variance
        ``(prior_count + sum((z - shift)^2)) / (m + prior_count)``, then kept only where
        they call for caution.
        """
        if not prior_count > 0:
            raise MetasearchError(f"prior_count must be > 0, got {prior_count!r}")
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        z = z[np.isfinite(z)]
        shift = float(z.sum()) / (len(z) + prior_count)
        variance = (prior_count + float(((z - shift) ** 2).sum())) / (len(z) + prior_count)
        return cls(max(shift, 0.0), max(float(np.sqrt(variance)), 1.0), len(z))
