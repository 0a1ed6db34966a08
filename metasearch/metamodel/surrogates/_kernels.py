"""The Matern-5/2 kernel, the one every Gaussian process of the surrogates uses.

The default of most BO libraries: twice differentiable, less smooth than the RBF, which suits
validation-score surfaces. One formula serves the numpy GPs (the cold GP of RGPE, the ARD
target GP) and the torch deep kernel of FSBO: the caller passes its own ``exp``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["SQRT5", "matern52"]

SQRT5 = math.sqrt(5.0)
"""The scale of a Matern-5/2 distance: ``u = SQRT5 * r / lengthscale``."""


def matern52(u: Any, exp: Callable[[Any], Any] = np.exp) -> Any:
    """Unit-variance Matern-5/2 correlation ``(1 + u + u^2 / 3) exp(-u)``.

    Args:
        u: scaled distances ``sqrt(5) * r / lengthscale`` (a numpy array or a torch tensor).
        exp: the exponential of ``u``'s library (``torch.exp`` for tensors).
    """
    return (1.0 + u + u * u / 3.0) * exp(-u)
