"""A fitted learning-curve model's state, and prediction from it (numpy only).

Kept apart from :class:`~metasearch.metamodel.curves.CurveModel` so that evaluation, early
stopping and calibration run the very code the pruner runs, on candidate weights too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.metamodel._artifact import ModelError
from metasearch.metamodel._component import TaskContext
from metasearch.metamodel.curves._ensemble import combine, forward, n_layers
from metasearch.metamodel.curves._features import (
    FamilyPrior,
    Rows,
    build_rows,
    fill_prefixes,
    meta_matrix,
    n_features,
)

__all__ = ["Predictor"]


@dataclass(frozen=True)
class Predictor:
    """Everything prediction needs.

    Attributes:
        max_budget: curve length ``K``.
        n_x: encoding width.
        meta_names: the meta-features the model uses, in order.
        prior: the family's typical task location and spread.
        min_std_frac: floor of the predicted standard deviation, in task units.
        params: ``meta_mean``/``meta_std`` (meta-feature scaling), ``feature_mean``/
            ``feature_std`` (input scaling), the ensemble's ``w{i}``/``b{i}``, and
            ``std_scale`` (``(K,)`` calibration factor per prefix length; ones if absent).
    """

    max_budget: int
    n_x: int
    meta_names: tuple[str, ...]
    prior: FamilyPrior
    min_std_frac: float
    params: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def with_params(self, **arrays: np.ndarray) -> Predictor:
        """The same predictor with ``arrays`` added to (or replacing) its parameters."""
        return dataclasses.replace(self, params={**self.params, **arrays})

    def settings(self) -> dict[str, Any]:
        return {"max_budget": self.max_budget, "n_x": self.n_x,
                "meta_names": list(self.meta_names), "prior": dataclasses.asdict(self.prior),
                "min_std_frac": self.min_std_frac}

    def predict(self, prefixes: np.ndarray, x: np.ndarray, context: TaskContext | None,
                support_curves: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the finals; a complete curve's is its last value."""
        rows, filled, k = self.rows(prefixes, x, context, support_curves)
        mean, std = self.predict_rows(rows)
        return np.where(k == self.max_budget, filled[:, -1], mean), std

    def rows(self, prefixes: np.ndarray, x: np.ndarray, context: TaskContext | None,
             support_curves: np.ndarray | None) -> tuple[Rows, np.ndarray, np.ndarray]:
        """Network inputs for queries of one task; also the filled prefixes and lengths."""
        filled, k = fill_prefixes(prefixes, self.max_budget)
        enc = np.asarray(x, dtype=np.float64)
        if enc.shape != (len(k), self.n_x) or not np.isfinite(enc).all():
            raise MetasearchError(f"x must be finite with shape ({len(k)}, {self.n_x}), got "
                                  f"shape {enc.shape}")
        ctx = context or TaskContext()
        scores = np.asarray(ctx.scores, dtype=np.float64).reshape(-1)
        curves = None
        if support_curves is not None:
            curves, _ = fill_prefixes(support_curves, self.max_budget, "support_curves")
            if len(curves) != len(scores):
                raise MetasearchError(f"support_curves has {len(curves)} rows but the context "
                                      f"has {len(scores)} scores")
        mask = np.ones((len(k), len(scores)), dtype=bool)
        meta = np.tile(self.meta(ctx.meta_features), (len(k), 1))
        rows = build_rows(filled, np.minimum(k, self.max_budget - 1), enc, meta, scores,
                          curves, mask, mask if curves is not None else None, self.prior)
        return rows, filled, k

    def predict_support(self, x: np.ndarray, context: TaskContext, support_curves: np.ndarray,
                        k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each support trial's final predicted from its first ``k`` steps, leave-one-out.

        Row ``j`` sees the other support trials (their scores and curves), never its own: how
        the model would have judged trial ``j`` after ``k`` steps had it come last. Trials
        whose curve is shorter than ``k`` or whose score is not finite get NaN.

        Returns:
            ``mean``, ``std`` and the true finals, each ``(n,)``.
        """
        scores = np.asarray(context.scores, dtype=np.float64).reshape(-1)
        curves, length = fill_prefixes(support_curves, self.max_budget, "support_curves")
        if len(curves) != len(scores) or np.shape(x) != (len(scores), self.n_x):
            raise MetasearchError(f"support of {len(scores)} scores needs x of shape "
                                  f"({len(scores)}, {self.n_x}) and as many curves, got "
                                  f"{np.shape(x)} and {len(curves)}")
        if not 1 <= k < self.max_budget:
            raise MetasearchError(f"k must be in 1..{self.max_budget - 1}, got {k}")
        prefix = np.where(np.arange(self.max_budget)[None, :] < k, curves, np.nan)
        filled, cut = fill_prefixes(prefix, self.max_budget)
        others = ~np.eye(len(scores), dtype=bool)
        meta = np.tile(self.meta(context.meta_features), (len(scores), 1))
        rows = build_rows(filled, cut, np.asarray(x, dtype=np.float64), meta, scores, curves,
                          others, others, self.prior)
        mean, std = self.predict_rows(rows)
        valid = (length >= k) & (cut == k) & np.isfinite(scores)
        return np.where(valid, mean, np.nan), np.where(valid, std, np.nan), scores

    def predict_rows(self, rows: Rows, *, calibrated: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Finals' mean and (floored, calibrated unless told not) std in task units."""
        mu, sigma = forward(self.params, self.standardise(rows))
        mean, std = combine(mu, sigma)
        if calibrated and "std_scale" in self.params:
            std = std * self.params["std_scale"][rows.k]
        return rows.anchor + rows.scale * mean, rows.scale * np.maximum(std, self.min_std_frac)

    def standardise(self, rows: Rows) -> np.ndarray:
        return (rows.features - self.params["feature_mean"]) / self.params["feature_std"]

    def meta(self, meta_features: Mapping[str, float] | None) -> np.ndarray:
        """The task's scaled meta-features and known flag (see :func:`meta_matrix`)."""
        return meta_matrix(meta_features if self.meta_names else None, self.meta_names,
                           self.params["meta_mean"], self.params["meta_std"])

    def check(self) -> None:
        """Raise :class:`ModelError` unless every array fits the recorded sizes."""
        width = n_features(self.max_budget, self.n_x, len(self.meta_names))
        n_meta = len(self.meta_names)
        expected = {"feature_mean": (width,), "feature_std": (width,), "meta_mean": (n_meta,),
                    "meta_std": (n_meta,), "std_scale": (self.max_budget,)}
        for name, shape in expected.items():
            got = self.params[name].shape if name in self.params else None
            if got != shape:
                raise ModelError(f"curves: array {name!r} has shape {got}, expected {shape}")
        depth = n_layers(self.params)
        if depth < 1 or self.params["w0"].shape[1] != width:
            raise ModelError(f"curves: the network's weights do not take {width} inputs")
        for i in range(depth):
            if f"b{i}" not in self.params:
                raise ModelError(f"curves: array 'b{i}' is missing")
