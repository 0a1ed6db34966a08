"""Episodes drawn from past tasks: training samples and fixed evaluation splits.

A training sample is what the pruner will face: one finished trial's curve cut after a random
``k`` (0 to ``K - 1`` epochs), a random support set of the same task (0 to ``max_support`` of
its other trials, never the trial itself) with or without their curves, and the task's
meta-features or none. Redrawing every pass turns a few thousand curves into an endless stream
of distinct episodes, which is what lets a small network generalise to unseen tasks.

An evaluation episode is fixed by a seed: per task, a seeded permutation puts
``n_support`` trials in the support set and every other finished trial is a query, so the
early-stopping figure and the reported figures are comparable across passes and runs.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from metasearch.metamodel._data import TaskHistory
from metasearch.metamodel.curves._features import FamilyPrior, Rows, build_rows, fill_prefixes

__all__ = ["Draw", "EvalSplit", "draw_task", "eval_split"]


@dataclass(frozen=True)
class Draw:
    """How to draw training samples from one task."""

    per_curve: int
    max_support: int
    drop_meta: float
    drop_curves: float
    keep: float = 1.0  # share of the samples kept, so a pass costs the same on big data


@dataclass(frozen=True)
class EvalSplit:
    """A task's fixed support set and its queries (finished trials outside the support)."""

    support: np.ndarray
    queries: np.ndarray


def _random_support(rng: np.random.Generator, query: np.ndarray, n_trials: int,
                    max_support: int) -> np.ndarray:
    """``(r, n_trials)`` masks: a uniform-size random subset of the other trials per row."""
    size = rng.integers(0, min(n_trials - 1, max_support) + 1, size=len(query))
    keys = rng.random((len(query), n_trials))
    keys[np.arange(len(query)), query] = 2.0  # ranks last, and size <= n_trials - 1
    ranks = keys.argsort(axis=1).argsort(axis=1)
    return ranks < size[:, None]


def draw_task(task: TaskHistory, rng: np.random.Generator, draw: Draw, meta: np.ndarray,
              prior: FamilyPrior) -> tuple[Rows, np.ndarray] | None:
    """Fresh training rows and their true finals from one task (None: no finished trial).

    Failed trials (NaN score) are never queries, and only count in support sets the way they
    would at search time: as trials without a final score.
    """
    finished = np.flatnonzero(np.isfinite(task.scores))
    if len(finished) == 0:
        return None
    budget = task.curves.shape[1]
    query = np.repeat(finished, draw.per_curve)
    query = query[rng.random(len(query)) < draw.keep]
    if len(query) == 0:
        return None
    _, length = fill_prefixes(task.curves[query], budget)
    cut = rng.integers(0, np.minimum(length, budget - 1) + 1)
    prefixes = np.where(np.arange(budget)[None, :] < cut[:, None], task.curves[query], np.nan)
    filled, k = fill_prefixes(prefixes, budget)
    mask = _random_support(rng, query, task.n_trials, draw.max_support)
    curve_mask = mask & (rng.random(len(query)) >= draw.drop_curves)[:, None]
    metas = np.tile(meta, (len(query), 1))
    metas[rng.random(len(query)) < draw.drop_meta] = 0.0
    rows = build_rows(filled, k, task.x[query], metas, task.scores, task.curves, mask,
                      curve_mask, prior)
    return rows, task.scores[query]


def eval_split(task: TaskHistory, n_support: int, seed: int) -> EvalSplit:
    """The seeded support/query split of ``task`` used by every evaluation."""
    rng = np.random.default_rng([seed, zlib.crc32(task.task.encode())])
    order = rng.permutation(task.n_trials)
    n = min(n_support, max(task.n_trials - 1, 0))
    support, rest = order[:n], order[n:]
    return EvalSplit(np.sort(support), np.sort(rest[np.isfinite(task.scores[rest])]))
