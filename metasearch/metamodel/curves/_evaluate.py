"""Measuring a learning-curve model on whole tasks, early stopping, and calibrating it.

Every figure comes from the same episodes (:func:`~._episodes.eval_split`): per task a seeded
support set that the model is told about, and the task's other finished trials as queries.
The baseline is the last observed value, what a median-stopping or successive-halving rule
implicitly predicts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import TaskContext
from metasearch.metamodel._data import MetaDataset, TaskHistory
from metasearch.metamodel.curves._episodes import eval_split
from metasearch.metamodel.curves._features import Rows, fill_prefixes
from metasearch.metamodel.curves._predictor import Predictor

__all__ = ["Episode", "episodes", "figures", "mae_scorer", "std_scales"]

COVERAGE = 0.95  # calibration makes mean +- 1.96 std hold this share of validation finals
Z_COVERAGE = 1.959964
MIN_RESIDUALS = 30
SCALE_RANGE = (0.5, 10.0)


@dataclass(frozen=True)
class Episode:
    """One task's queries cut after ``k`` epochs: inputs, true finals, last observed values."""

    rows: Rows
    truth: np.ndarray
    last: np.ndarray


def _episode(pred: Predictor, history: TaskHistory, k: int, n_support: int,
             seed: int) -> Episode | None:
    split = eval_split(history, n_support, seed)
    _, length = fill_prefixes(history.curves[split.queries], pred.max_budget)
    queries = split.queries[length >= k]
    if len(queries) == 0:
        return None
    context = TaskContext(history.meta_features, history.x[split.support],
                          history.scores[split.support])
    rows, filled, _ = pred.rows(history.curves[queries, :k], history.x[queries], context,
                                history.curves[split.support])
    last = filled[:, k - 1] if k > 0 else np.full(len(queries), np.nan)
    return Episode(rows, history.scores[queries], last)


def episodes(pred: Predictor, data: MetaDataset, k: int, n_support: int,
             seed: int) -> list[Episode]:
    """Every task's episode after ``k`` epochs (0..K-1); tasks without queries are skipped."""
    if not 0 <= k < pred.max_budget:
        raise MetasearchError(f"epochs must be in 0..{pred.max_budget - 1}, got {k}")
    found = (_episode(pred, h, k, n_support, seed) for h in data.tasks.values())
    return [e for e in found if e is not None]


def _pooled(pred: Predictor, found: list[Episode], *, calibrated: bool = True
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Predicted mean and std, truth and last values over ``found``, concatenated."""
    outputs = [pred.predict_rows(e.rows, calibrated=calibrated) for e in found]
    return (np.concatenate([m for m, _ in outputs]), np.concatenate([s for _, s in outputs]),
            np.concatenate([e.truth for e in found]), np.concatenate([e.last for e in found]))


def figures(pred: Predictor, data: MetaDataset, epochs: Sequence[int], n_support: int,
            seed: int) -> dict[str, float]:
    """MAE after each of ``epochs`` epochs, the last value's MAE, and 2-std coverage."""
    out: dict[str, float] = {}
    for k in epochs:
        found = episodes(pred, data, k, n_support, seed)
        if not found:
            continue
        mean, std, truth, last = _pooled(pred, found)
        out[f"mae_after_{k}"] = float(np.abs(mean - truth).mean())
        out[f"last_value_mae_after_{k}"] = float(np.abs(last - truth).mean())
        out[f"coverage_2std_after_{k}"] = float((np.abs(mean - truth) <= 2 * std).mean())
    return out


def mae_scorer(pred: Predictor, data: MetaDataset | None, k: int, n_support: int,
               seed: int) -> Callable[[dict[str, np.ndarray]], float] | None:
    """Validation MAE after ``k`` epochs for candidate weights (None: nothing to score on).

    The episodes' inputs do not depend on the weights, so they are built once.
    """
    found = episodes(pred, data, k, n_support, seed) if data is not None else []
    if not found:
        return None
    truth = np.concatenate([e.truth for e in found])

    def score(weights: dict[str, np.ndarray]) -> float:
        candidate = pred.with_params(**weights)
        means = [candidate.predict_rows(e.rows, calibrated=False)[0] for e in found]
        return float(np.abs(np.concatenate(means) - truth).mean())

    return score


def std_scales(pred: Predictor, data: MetaDataset | None, n_support: int,
               seed: int) -> np.ndarray:
    """Per prefix length, the factor that makes validation finals' 95% intervals hold.

    A network meta-trained on a few tasks is more certain on them than on new ones; scaling
    its standard deviation on held-out validation tasks (variance scaling, as in Kuleshov et
    al., 2018, and Laves et al., 2020) restores coverage where the pruner acts, in the tails.
    Residuals of neighbouring lengths are pooled; too few leave the factor at 1.
    """
    scales = np.ones(pred.max_budget)
    if data is None or not data.tasks:
        return scales
    residuals = []
    for k in range(pred.max_budget):
        found = episodes(pred, data, k, n_support, seed)
        if found:
            mean, std, truth, _ = _pooled(pred, found, calibrated=False)
            residuals.append(np.abs(truth - mean) / std)
        else:
            residuals.append(np.zeros(0))
    for k in range(pred.max_budget):
        pooled = np.concatenate(residuals[max(k - 1, 0):k + 2])
        if len(pooled) >= MIN_RESIDUALS:
            scales[k] = np.clip(np.quantile(pooled, COVERAGE) / Z_COVERAGE, *SCALE_RANGE)
    return scales
