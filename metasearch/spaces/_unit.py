"""The unit scale of a numeric hyperparameter: where a value lies in [0, 1] of its range.

The encoding, the learned priors' kernels and the acquisition's local search all move numbers
on this scale (logarithmic for a log-scaled parameter), so it is defined once, on plain
bounds: a :class:`~metasearch.spaces.Float` or :class:`~metasearch.spaces.Int` and an
Optuna distribution map to it alike.
"""

from __future__ import annotations

import math

__all__ = ["unit_position", "unit_value"]


def unit_position(value: float, low: float, high: float, log: bool) -> float:
    """Where ``value`` lies on the unit scale of ``[low, high]``, unclipped; 0.5 for a point."""
    if high == low:
        return 0.5
    if log:
        span = math.log(high) - math.log(low)
        return (math.log(max(value, 1e-300)) - math.log(low)) / span
    return (value - low) / (high - low)


def unit_value(u: float, low: float, high: float, log: bool, step: float | None = None
               ) -> float:
    """The value at unit-scale position ``u`` (clipped to [0, 1]), on the ``step`` grid from
    ``low`` when there is one, and inside the bounds (the inverse of :func:`unit_position`)."""
    u = min(1.0, max(0.0, u))
    if log:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        value = low + u * (high - low)
    if step is not None:
        value = low + round((value - low) / step) * step
    return min(high, max(low, value))
