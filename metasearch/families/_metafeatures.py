"""Meta-features of a classification data set: what a task looks like before any trial.

Simple statistics (size, dimension, classes, class entropy, imbalance) plus two cheap
landmarkers (a 1-nearest-neighbour and a ridge linear probe, each scored on a held-out half of
at most 1,000 rows), in the spirit of the meta-features of auto-sklearn (Feurer et al., 2015).
Only numpy: computing them never imports torch.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["classification_meta_features"]

_LANDMARK_ROWS = 1000


def classification_meta_features(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Meta-features of features ``x`` (rows x columns) and integer labels ``y``.

    Returns:
        ``n_rows, n_features, n_classes, log_rows, log_features, rows_per_feature,
        class_entropy`` (normalised to [0, 1]), ``imbalance`` (smallest over largest class),
        ``landmark_1nn`` and ``landmark_linear`` (held-out accuracies).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or len(x) != len(y) or len(y) < 4:
        raise ValueError(f"need a 2-D x with one label per row and >= 4 rows, got {x.shape}")
    _, counts = np.unique(y, return_counts=True)
    share = counts / counts.sum()
    entropy = 0.0
    if len(counts) > 1:
        entropy = float(-(share * np.log(share)).sum() / math.log(len(counts)))
    one_nn, linear = _landmarkers(x, y, seed)
    return {
        "n_rows": float(len(x)),
        "n_features": float(x.shape[1]),
        "n_classes": float(len(counts)),
        "log_rows": math.log(len(x)),
        "log_features": math.log(x.shape[1]),
        "rows_per_feature": len(x) / x.shape[1],
        "class_entropy": entropy,
        "imbalance": float(counts.min() / counts.max()),
        "landmark_1nn": one_nn,
        "landmark_linear": linear,
    }


def _landmarkers(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))[:_LANDMARK_ROWS]
    x, y = x[order], y[order]
    scale = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    half = len(x) // 2
    x_fit, y_fit, x_eval, y_eval = x[:half], y[:half], x[half:], y[half:]
    squared = (x_eval**2).sum(1)[:, None] + (x_fit**2).sum(1)[None, :] - 2 * x_eval @ x_fit.T
    one_nn = float((y_fit[squared.argmin(axis=1)] == y_eval).mean())
    classes = np.unique(y)
    targets = (y_fit[:, None] == classes[None, :]).astype(np.float64)
    design = np.hstack([x_fit, np.ones((len(x_fit), 1))])
    ridge = design.T @ design + 1.0 * np.eye(design.shape[1])
    weights = np.linalg.solve(ridge, design.T @ targets)
    scores = np.hstack([x_eval, np.ones((len(x_eval), 1))]) @ weights
    linear = float((classes[scores.argmax(axis=1)] == y_eval).mean())
    return one_nn, linear
