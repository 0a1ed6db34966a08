"""What the learning-curve network sees: a curve prefix in its task's own units.

Tasks of a family differ in scale (an easy data set's accuracies crowd near 1, a hard one's
spread from chance upwards), so every quantity is expressed relative to the task: the anchor
``a`` is the last observed value (the task's location when nothing is observed yet) and the
unit ``s`` is the task's spread of final scores. Both come from the support set, the trials of
the task seen so far, shrunk towards the family's typical values while the support is small,
exactly as at search time; training draws random support sets of every size so the network
learns how far to trust them. The target is ``(final - a) / s``.

Pure numpy: building features never imports torch, so the pruner can predict without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from metasearch.errors import MetasearchError

__all__ = [
    "FamilyPrior",
    "Rows",
    "build_rows",
    "fill_prefixes",
    "meta_matrix",
    "n_features",
]

N_TASK_FEATURES = 8  # k/K, level, weight, family level, log scale, gain, relative, weight


@dataclass(frozen=True)
class FamilyPrior:
    """The family's typical task location and spread, learned from the training tasks.

    Attributes:
        location: median over training tasks of their mean final score.
        scale: median over training tasks of their final scores' standard deviation.
        strength: pseudo-count of the shrinkage: with ``n`` support scores the task's own
            estimate gets weight ``n / (n + strength)``.
    """

    location: float
    scale: float
    strength: float

    @classmethod
    def from_scores(cls, per_task: Sequence[np.ndarray], strength: float) -> FamilyPrior:
        """Medians of each task's mean and spread (tasks with < 2 finite scores are skipped)."""
        means, spreads = [], []
        for scores in per_task:
            finite = scores[np.isfinite(scores)]
            if len(finite) >= 2:
                means.append(float(finite.mean()))
                spreads.append(float(finite.std()))
        if not means:
            raise MetasearchError("no training task has 2 or more finished trials: cannot "
                                  "learn a learning-curve model from them")
        scale = float(np.median(spreads))
        return cls(float(np.median(means)), scale if scale > 0 else 1.0, strength)


@dataclass(frozen=True)
class Rows:
    """A batch of prefixes turned into network inputs.

    Attributes:
        features: ``(r, n_features)`` raw (not yet standardised) inputs.
        anchor: ``(r,)`` the value the prediction is relative to (last observed, or location).
        scale: ``(r,)`` the task's unit.
        k: ``(r,)`` prefix lengths.
    """

    features: np.ndarray
    anchor: np.ndarray
    scale: np.ndarray
    k: np.ndarray


def n_features(max_budget: int, n_x: int, n_meta: int) -> int:
    """Input width: prefix shape and mask, task summaries, encoding, meta-features + flag."""
    return 2 * (max_budget - 1) + N_TASK_FEATURES + n_x + n_meta + 1


def fill_prefixes(prefixes: np.ndarray, max_budget: int, what: str = "prefixes"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Prefix lengths and values with holes inside a prefix filled.

    A prefix ends at its last finite value; NaN (or inf) holes before that are filled with the
    previous finite value (the first one for leading holes), so an epoch that failed to report
    does not end the curve. Narrower arrays are padded with NaN to ``max_budget`` steps.

    Returns:
        ``filled`` (m, max_budget) with NaN from each prefix's end, and ``k`` (m,) in
        0..max_budget.

    Raises:
        MetasearchError: if ``prefixes`` is not 2-D or has more than ``max_budget`` steps
            (the message calls the array ``what``).
    """
    values = np.asarray(prefixes, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] > max_budget:
        raise MetasearchError(f"{what} must be (m, <= {max_budget}), got shape {values.shape}")
    if values.shape[1] < max_budget:  # np.pad's generic path costs more than the fill
        padded = np.full((len(values), max_budget), np.nan)
        padded[:, : values.shape[1]] = values
        values = padded
    finite = np.isfinite(values)
    steps = np.arange(max_budget)
    k = np.where(finite.any(axis=1), max_budget - np.argmax(finite[:, ::-1], axis=1), 0)
    source = np.maximum.accumulate(np.where(finite, steps, -1), axis=1)
    source = np.where(source < 0, np.argmax(finite, axis=1)[:, None], source)
    filled = np.take_along_axis(values, source, axis=1)
    filled[steps[None, :] >= k[:, None]] = np.nan
    return filled, k


def meta_matrix(meta_features: Mapping[str, float] | None, names: Sequence[str],
                mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The task's standardised meta-features and a known flag, ``(len(names) + 1,)``.

    Unknown meta-features (None) are zeros with the flag off, which training also shows the
    network by dropping them at random.

    Raises:
        MetasearchError: when ``meta_features`` lacks one the model was trained with, or a
            value is not finite.
    """
    if meta_features is None:
        return np.zeros(len(names) + 1)
    missing = [n for n in names if n not in meta_features]
    if missing:
        raise MetasearchError(f"meta-features {missing} are missing: the learning-curve model "
                              f"was trained with {list(names)}")
    raw = np.array([float(meta_features[n]) for n in names])
    bad = {n: v for n, v in zip(names, raw, strict=True) if not np.isfinite(v)}
    if bad:
        raise MetasearchError(f"meta-features must be finite, got {bad}")
    return np.append((raw - mean) / std, 1.0)


def _support_scale(scores: np.ndarray, mask: np.ndarray,
                   prior: FamilyPrior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Location, unit and trust weight of the task from the masked support scores.

    ``mask`` is ``(r, n)``: row ``i`` uses the support scores where it is true. The estimates
    are shrunk towards the family prior with ``prior.strength`` pseudo-observations.
    """
    ok = mask & np.isfinite(scores)[None, :]
    values = np.where(ok, scores[None, :], 0.0)
    n = ok.sum(axis=1)
    mean = values.sum(axis=1) / np.maximum(n, 1)
    var = (np.where(ok, (scores[None, :] - mean[:, None]) ** 2, 0.0)).sum(axis=1)
    var /= np.maximum(n, 1)
    weight = n / (n + prior.strength)
    location = weight * mean + (1 - weight) * prior.location
    scale = np.sqrt(weight * var + (1 - weight) * prior.scale**2)
    return location, np.maximum(scale, 1e-3 * prior.scale), weight


def _curve_summary(curves: np.ndarray, scores: np.ndarray, mask: np.ndarray, k: np.ndarray,
                   anchor: np.ndarray, scale: np.ndarray,
                   strength: float) -> np.ndarray:
    """How the task's finished curves went on after step ``k``, ``(r, 3)``.

    Columns: mean remaining gain ``(final - value at k) / s`` of the support curves, this
    prefix's value relative to theirs at ``k``, and a trust weight. This is what tells the
    network that on this task curves keep rising (or fall back) after ``k`` epochs.
    """
    at_k = curves[:, np.maximum(k - 1, 0)].T  # (r, n): each support curve at the row's k
    ok = mask & np.isfinite(at_k) & np.isfinite(scores)[None, :] & (k > 0)[:, None]
    n = ok.sum(axis=1)
    denom = np.maximum(n, 1) * scale
    gain = np.where(ok, scores[None, :] - at_k, 0.0).sum(axis=1) / denom
    level = (anchor * n - np.where(ok, at_k, 0.0).sum(axis=1)) / denom
    return np.stack([gain, level, n / (n + strength)], axis=1)


def build_rows(filled: np.ndarray, k: np.ndarray, x: np.ndarray, meta: np.ndarray,
               scores: np.ndarray, curves: np.ndarray | None, mask: np.ndarray,
               curve_mask: np.ndarray | None, prior: FamilyPrior) -> Rows:
    """Network inputs for prefixes of one task against (masked) support trials of that task.

    Args:
        filled: ``(r, K)`` prefixes from :func:`fill_prefixes`; ``k`` their lengths (< K).
        x: ``(r, d)`` encodings; ``meta``: ``(r, n_meta + 1)`` from :func:`meta_matrix`.
        scores: ``(n,)`` support final scores (NaN for failures); ``curves``: ``(n, K)``
            their curves, or None when unknown.
        mask: ``(r, n)`` which support trials each row may use; ``curve_mask`` likewise
            for their curves (None: no curves).
        prior: the family's typical location and spread.
    """
    max_budget = filled.shape[1]
    rows = np.arange(len(k))
    location, scale, weight = _support_scale(scores, mask, prior)
    last = filled[rows, np.maximum(k - 1, 0)]
    anchor = np.where(k > 0, last, location)
    inside = np.arange(max_budget - 1)[None, :] < k[:, None]
    shape = np.where(inside, np.arcsinh((filled[:, :-1] - anchor[:, None]) / scale[:, None]), 0)
    if curves is None or curve_mask is None:
        summary = np.zeros((len(k), 3))
    else:
        summary = _curve_summary(curves, scores, curve_mask, k, anchor, scale, prior.strength)
        summary[:, :2] = np.arcsinh(summary[:, :2])
    task = np.column_stack([
        k / max_budget,
        np.arcsinh((anchor - location) / scale),
        weight,
        np.arcsinh((anchor - prior.location) / prior.scale),
        np.log(scale / prior.scale),
        summary,
    ])
    features = np.concatenate([shape, inside.astype(np.float64), task, x, meta], axis=1)
    return Rows(np.nan_to_num(features), anchor, scale, k)
