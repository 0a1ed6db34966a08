"""Meta-datasets from the synthetic family: real evaluations, milliseconds per trial."""

from __future__ import annotations

import pytest
from synthetic_data import evaluated_dataset

from metasearch.families import get_family
from metasearch.metamodel import MetaDataset


def synthetic_dataset(n_tasks: int = 12, n_trials: int = 60, seed: int = 0) -> MetaDataset:
    """``n_trials`` random configurations evaluated at full budget on each of ``n_tasks``."""
    return evaluated_dataset(get_family("synthetic").task_ids()[:n_tasks], n_trials, seed)


@pytest.fixture(scope="session")
def synthetic_data() -> MetaDataset:
    return synthetic_dataset()


@pytest.fixture(scope="session")
def make_synthetic_dataset():  # type: ignore[no-untyped-def]
    """The :func:`synthetic_dataset` factory, for tests that need other sizes or seeds."""
    return synthetic_dataset
