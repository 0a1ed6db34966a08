"""Meta-datasets from the synthetic family: real evaluations, milliseconds per trial."""

from __future__ import annotations

import numpy as np
import pytest

from metasearch.families import get_family
from metasearch.metamodel import MetaDataset


def synthetic_dataset(n_tasks: int = 12, n_trials: int = 60, seed: int = 0) -> MetaDataset:
    """``n_trials`` random configurations evaluated at full budget on each of ``n_tasks``."""
    family = get_family("synthetic")
    rng = np.random.default_rng(seed)
    results, features = {}, {}
    for task_id in family.task_ids()[:n_tasks]:
        task = family.task(task_id)
        configs = [family.space.sample(rng) for _ in range(n_trials)]
        results[task_id] = [task.evaluate(c, device="cpu", seed=seed) for c in configs]
        features[task_id] = task.meta_features
    return MetaDataset.from_results(
        family=family.name, space=family.space, direction=family.direction,
        max_budget=family.max_budget, results=results, meta_features=features,
    )


@pytest.fixture(scope="session")
def synthetic_data() -> MetaDataset:
    return synthetic_dataset()


@pytest.fixture(scope="session")
def make_synthetic_dataset():  # type: ignore[no-untyped-def]
    """The :func:`synthetic_dataset` factory, for tests that need other sizes or seeds."""
    return synthetic_dataset
