"""Meta-features change the warm start where they carry information, and only there.

On the ``shift`` family a task's best learning rate, width and dropout follow its data set's
size; on ``shift-noise`` (the same tasks) the meta-features are drawn independently of them.
Portfolios are fitted on 28 tasks' random trials and judged on 12 held-out tasks by their
exact (noise-free) regret.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from synthetic_data import evaluated_dataset, shift_model

from metasearch.families import get_family
from metasearch.metamodel import Portfolio, TaskContext
from metasearch.metamodel._relevance import greedy_order, kernel_weights, learn_relevance

N_TRAIN, N_TRIALS = 28, 60


@functools.cache
def _fitted(name: str, seed: int) -> tuple[Portfolio, tuple[str, ...]]:
    """A portfolio fitted on 28 tasks of ``name``, and the 12 held-out task ids."""
    family = get_family(name)
    ids = family.task_ids()
    order = np.random.default_rng(seed).permutation(len(ids))
    portfolio = Portfolio()
    portfolio.fit(evaluated_dataset([ids[i] for i in order[:N_TRAIN]], N_TRIALS, seed, name))
    return portfolio, tuple(ids[i] for i in order[N_TRAIN:])


@functools.cache
def _bounds(name: str, task_id: str) -> tuple[float, float]:
    """Best and worst noise-free value of 2,000 random configurations of a task."""
    family = get_family(name)
    rng = np.random.default_rng(7)
    values = [family.task(task_id).final_value(family.space.sample(rng)) for _ in range(2000)]
    return max(values), min(values)


def _regrets(name: str, task_id: str, configs: list[dict[str, Any]]) -> list[float]:
    best, worst = _bounds(name, task_id)
    task: Any = get_family(name).task(task_id)
    values = np.maximum.accumulate([task.final_value(c) for c in configs])
    return [float((best - values[k - 1]) / (best - worst)) for k in (1, 3, 5)]


def _held_out(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out tasks x (1, 3, 5) regrets of the uniform and the feature-aware warm start."""
    portfolio, held_out = _fitted(name, seed)
    family = get_family(name)
    uniform = portfolio.configs(5)
    rows_u, rows_f = [], []
    for task_id in held_out:
        context = TaskContext(meta_features=family.task(task_id).meta_features)
        rows_u.append(_regrets(name, task_id, uniform))
        rows_f.append(_regrets(name, task_id, portfolio.configs(5, context)))
    return np.array(rows_u), np.array(rows_f)


def test_tasks_with_distant_features_get_different_first_five() -> None:
    """Where features matter, the smallest and largest data set do not start alike."""
    portfolio, held_out = _fitted("shift", 0)
    family = get_family("shift")
    assert portfolio.similarity.learned.used
    by_rows = sorted(held_out, key=lambda t: family.task(t).meta_features["n_rows"])
    small, large = (family.task(t).meta_features for t in (by_rows[0], by_rows[-1]))
    assert large["n_rows"] > 30 * small["n_rows"]
    first_small = portfolio.configs(5, TaskContext(meta_features=small))
    first_large = portfolio.configs(5, TaskContext(meta_features=large))
    assert first_small != first_large
    # and in the direction the family says: larger data sets get larger learning rates
    lr = [np.median([np.log10(c["lr"]) for c in first]) for first in (first_small, first_large)]
    assert lr[1] > lr[0] + 0.5, lr


@pytest.mark.parametrize("seed", [0, 2])
def test_feature_aware_warm_start_beats_uniform_where_features_matter(seed: int) -> None:
    uniform, featured = _held_out("shift", seed)
    print("shift", seed, uniform.mean(0).round(3), featured.mean(0).round(3))
    # Measured (seeds 0 and 2): uniform 0.89/0.65/0.63 and 0.92/0.77/0.77, feature-aware
    # 0.72/0.57/0.49 and 0.59/0.43/0.42 at 1/3/5 trials.
    gain = uniform.mean(0) - featured.mean(0)
    assert (gain > 0.05).all() and gain.mean() > 0.1, (uniform.mean(0), featured.mean(0))


@pytest.mark.parametrize("seed", [0, 2])
def test_noise_features_leave_the_warm_start_uniform(seed: int) -> None:
    portfolio, held_out = _fitted("shift-noise", seed)
    family = get_family("shift-noise")
    assert not portfolio.similarity.learned.used, portfolio.similarity.feature_relevance()
    context = TaskContext(meta_features=family.task(held_out[0]).meta_features)
    assert portfolio.configs(5, context) == portfolio.configs(5)
    uniform, featured = _held_out("shift-noise", seed)
    assert (featured.mean(0) <= uniform.mean(0) + 1e-12).all()


def test_learn_relevance_keeps_uniform_without_features_or_tasks() -> None:
    scores = np.random.default_rng(0).random((6, 3))
    learned = learn_relevance(np.zeros((3, 2)), scores, np.array([0, 0, 1, 1, 2, 2]))
    assert not learned.used and learned.uniform == learned.learned


def test_kernel_weights_exclude_the_held_out_task_and_mix_with_uniform() -> None:
    features = np.array([[0.0], [1.0], [3.0]])
    w = kernel_weights(features, np.array([0.0]), np.array([1.0]), 0.5, exclude=0)
    assert w[0] == 0 and w.sum() == pytest.approx(1.0)
    assert w[1] > w[2] > 0.25  # half the weight is spread evenly over the two others
    assert greedy_order(1 - np.eye(3), np.array([0.0, 0.5, 0.5]), 2) == [1, 2]


def test_the_prior_follows_the_features_where_they_matter() -> None:
    """The learned prior draws larger learning rates for a larger data set, as the family says."""
    prior: Any = shift_model().get("prior")
    assert prior.similarity.feature_relevance()["n_rows"] > 0
    family = get_family("shift")
    medians = []
    for rows in (150.0, 80_000.0):
        features = {**family.task("shift-30").meta_features, "n_rows": rows}
        draws = prior.sample(400, np.random.default_rng(0), TaskContext(meta_features=features))
        medians.append(np.median([np.log10(c["lr"]) for c in draws]))
    # Measured: median log10 lr -3.76 for 150 rows, -2.28 for 80,000 (the family's optima:
    # -4.06 and -1.87)
    assert medians[1] > medians[0] + 1.0, medians
