"""The kernels of the learned priors: per-block Gaussian and keep-or-switch kernels on [0, 1].

What :class:`~metasearch.metamodel.ConfigPrior` (a joint kernel density over the encoded space)
is made of, with the fast paths it uses and the reference forms they are tested against.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import TaskContext
from metasearch.metamodel._encoding import Block, EncodingLayout
from metasearch.spaces import SearchSpace

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# -- kernels ---------------------------------------------------------------------------------


def _unit_and_active(block: Block, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A numeric block's unit values and active mask, or a one-hot block's index and mask."""
    if block.kind == "numeric":
        active = x[:, block.active] > 0.5 if block.active is not None else np.ones(len(x), bool)
        return x[:, block.start], active
    values = x[:, block.start:block.stop]
    return np.argmax(values, axis=1).astype(float), values.max(axis=1) > 0.5


def _log_mass(mu: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """Log of the mass a Gaussian ``N(mu, width)`` puts on [0, 1]."""
    return np.log(np.maximum(ndtr((1.0 - mu) / width) - ndtr(-mu / width), 1e-300))


def _block_log_kernel(block: Block, band: float, query: np.ndarray, centre: np.ndarray
                      ) -> np.ndarray:
    """``(len(query), len(centre))`` log kernel values of one block.

    Numeric: a Gaussian of width ``band`` truncated to [0, 1]. One-hot (categorical, edge):
    the Aitchison-Aitken kernel, keeping the value with probability ``band``. An inactive
    query contributes no factor; an inactive centre contributes the uniform density, so each
    kernel stays normalised over the conditional space.
    """
    qa, qact = _unit_and_active(block, query)
    ca, cact = _unit_and_active(block, centre)
    if block.kind == "numeric":
        z = (qa[:, None] - ca[None, :]) / band
        logk = -0.5 * z * z - math.log(band) - _LOG_SQRT_2PI - _log_mass(ca, band)[None, :]
        logk = np.where(cact[None, :], logk, 0.0)
    else:
        m = block.width
        if m == 1:
            return np.zeros((len(query), len(centre)))
        same = qa[:, None] == ca[None, :]
        logk = np.where(same, math.log(band), math.log((1.0 - band) / (m - 1)))
        logk = np.where(cact[None, :], logk, -math.log(m))
    return np.where(qact[:, None], logk, 0.0)


def _centre_terms(block: Block, band: float, centre: np.ndarray) -> Any:
    """What :func:`_block_log_kernel` computes from the centres alone, for :func:`_add_kernel`.

    Numeric: the centres' unit values, inactive mask and log mass on [0, 1]. One-hot: a
    ``(width + 1, n_centres)`` table of the log kernel per query value (the last row, zeros, for
    an inactive query); None for a one-column block (it adds nothing).
    """
    ca, cact = _unit_and_active(block, centre)
    if block.kind == "numeric":
        return ca, ~cact, _log_mass(ca, band)
    m = block.width
    if m == 1:
        return None
    table = np.zeros((m + 1, len(centre)))
    for k in range(m):
        table[k] = np.where(ca == k, math.log(band), math.log((1.0 - band) / (m - 1)))
    table[:m, ~cact] = -math.log(m)
    return table


def _add_kernel(total: np.ndarray, block: Block, band: float, query: np.ndarray,
                terms: Any, scratch: tuple[np.ndarray, np.ndarray]) -> None:
    """``total += _block_log_kernel(block, band, query, centres)``, bit for bit, faster.

    The centres' part comes precomputed (:func:`_centre_terms`); the numeric kernel is built in
    ``scratch`` (two arrays shaped like ``total``) in the same order of operations, so every
    value rounds exactly as it did. A row of the kernel depends on its query's value alone, so
    where queries repeat values (a local search's neighbours each move one parameter of their
    climb and share the others) each distinct value's row is built once and copied.
    """
    qa, qact = _unit_and_active(block, query)
    if block.kind != "numeric":
        if terms is not None:
            total += terms[np.where(qact, qa.astype(np.int64), block.width)]
        return
    values, inverse = np.unique(qa, return_inverse=True)
    if 2 * len(values) <= len(qa):
        logk = np.take(_numeric_log_kernel(values, band, terms, None), inverse, axis=0,
                       out=scratch[1], mode="clip")  # in range: "clip" only skips a copy
    else:
        logk = _numeric_log_kernel(qa, band, terms, scratch)
    if not qact.all():
        logk[~qact] = 0.0
    total += logk


def _numeric_log_kernel(qa: np.ndarray, band: float, terms: Any,
                        scratch: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """A numeric block's log kernel of unit values ``qa`` (every query active) against the
    centres (``terms`` from :func:`_centre_terms`), in ``scratch`` when given."""
    ca, c_inactive, log_mass = terms
    shape = (len(qa), len(ca))
    z, logk = scratch if scratch is not None else (np.empty(shape), np.empty(shape))
    np.subtract.outer(qa, ca, out=z)
    z /= band
    np.multiply(z, -0.5, out=logk)
    logk *= z
    logk -= math.log(band)
    logk -= _LOG_SQRT_2PI
    logk -= log_mass
    if c_inactive.any():
        logk[:, c_inactive] = 0.0
    return logk


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``scipy.special.logsumexp(a, axis=1)`` of a real 2-D array, bit for bit, faster.

    The same steps as SciPy 1.17 (every maximum of a row taken out of the sum and counted, the
    rest shifted by it, exponentiated, summed, divided by the count, then ``log1p(s) + log(count)
    + max``), without its array-API copies: the prior's density of a few hundred candidates
    against a thousand centres, every suggestion, spent half its time in SciPy's version.
    """
    top = a.max(axis=1, keepdims=True)
    is_top = a == top
    count = is_top.sum(axis=1, keepdims=True, dtype=a.dtype)
    shifted = np.subtract(a, top)
    shifted[is_top] = -np.inf
    np.exp(shifted, out=shifted)
    total = shifted.sum(axis=1, keepdims=True)
    total = np.where(total == 0, total, total / count)
    return (np.log1p(total) + np.log(count) + top)[:, 0]


def _uniform_log_density(layout: EncodingLayout, x: np.ndarray) -> np.ndarray:
    """Log density of the uniform (per parameter) distribution at encodings ``x``."""
    out = np.zeros(len(x))
    for block in layout.blocks:
        if block.kind != "numeric":
            out -= np.where(_unit_and_active(block, x)[1], math.log(block.width), 0.0)
    return out


def _truncated_normal(mu: float, width: float, rng: np.random.Generator) -> float:
    """A draw of ``N(mu, width)`` restricted to [0, 1], by inverse CDF.

    When [0, 1] lies in the upper tail (a centre below 0, as transfer can make), the mirrored
    lower tail is drawn instead, where ``ndtr`` keeps its precision.
    """
    a, b = -mu / width, (1.0 - mu) / width
    r = rng.random()
    if a > 0:
        z = -ndtri(ndtr(-b) + r * (ndtr(-a) - ndtr(-b)))
    else:
        z = ndtri(ndtr(a) + r * (ndtr(b) - ndtr(a)))
    return float(np.clip(mu + width * z, 0.0, 1.0))


def _normal_terms(mu: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CDF terms :func:`_truncated_normal` computes for centres ``mu``: sign, base, span.

    A draw is then ``clip(mu + width * sign * ndtri(base + r * span), 0, 1)``, the same
    numbers :func:`_truncated_normal` gives, without four ``ndtr`` calls per draw.
    """
    a, b = -mu / width, (1.0 - mu) / width
    upper = a > 0
    base = np.where(upper, ndtr(-b), ndtr(a))
    span = np.where(upper, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    return np.where(upper, -1.0, 1.0), base, span


def _keep_or_switch(index: int, m: int, keep: float, rng: np.random.Generator) -> int:
    """Keep ``index`` with probability ``keep``, else one of the other ``m - 1`` uniformly."""
    if m == 1 or rng.random() < keep:
        return index
    other = int(rng.integers(m - 1))
    return other if other < index else other + 1


def _context_key(context: TaskContext | None) -> tuple[Any, ...] | None:
    """Everything of ``context`` task weights depend on, comparable; None if not hashable."""
    if context is None:
        return ()
    features = context.meta_features
    x = np.asarray(context.x, dtype=np.float64)
    scores = np.asarray(context.scores, dtype=np.float64)
    try:
        items = None if features is None else tuple(sorted(features.items()))
        hash(items)
    except TypeError:
        return None
    return items, x.shape, x.tobytes(), scores.tobytes()


def _check_encodings(x: np.ndarray, space: SearchSpace) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.shape[1] != space.encoding_length or not np.isfinite(x).all():
        raise MetasearchError(f"encodings of shape {x.shape} are not finite encodings of this "
                              f"space (length {space.encoding_length})")
    return x
