"""The ensemble's forward pass in numpy: prediction needs the weights, not torch.

The weights are stacked over members (``w{i}``: ``(members, n_in, n_out)``, ``b{i}``:
``(members, n_out)``), so the trainer (:mod:`._train`) runs all members as one batched
network and this module evaluates exactly what it learned. Each member ends in a Gaussian
head: a mean and a positive standard deviation of the normalised gain.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["MIN_SIGMA", "combine", "forward", "n_layers"]

MIN_SIGMA = 1e-3  # in task units: no member may claim to know the final value exactly


def n_layers(params: Mapping[str, np.ndarray]) -> int:
    """How many linear layers the stored weights hold."""
    count = 0
    while f"w{count}" in params:
        count += 1
    return count


def forward(params: Mapping[str, np.ndarray], inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every member's mean and standard deviation for standardised ``inputs`` ``(r, f)``.

    Returns:
        ``mu`` and ``sigma``, each ``(members, r)``.
    """
    depth = n_layers(params)
    hidden = np.broadcast_to(inputs, (params["w0"].shape[0], *inputs.shape))
    for i in range(depth):
        hidden = hidden @ params[f"w{i}"] + params[f"b{i}"][:, None, :]
        if i < depth - 1:
            hidden = hidden / (1.0 + np.exp(-np.clip(hidden, -60, 60)))  # SiLU
    return hidden[..., 0], np.logaddexp(0.0, hidden[..., 1]) + MIN_SIGMA


def combine(mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The members' equally weighted Gaussian mixture as one mean and standard deviation.

    The mixture's variance adds the members' disagreement (epistemic) to their own predicted
    noise (aleatoric), as in Lakshminarayanan et al. (2017).
    """
    mean = mu.mean(axis=0)
    var = (sigma**2 + mu**2).mean(axis=0) - mean**2
    return mean, np.sqrt(np.maximum(var, MIN_SIGMA**2))
