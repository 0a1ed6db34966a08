"""Optuna's own sampler conformance suites, run against MetaSampler with its default arguments.

Twice: with no meta-model (the cold start a fresh checkout gets) and with a small meta-model
trained on synthetic tasks (the suites' parameters are outside its space, which is the
define-by-run case: the model must not get in the way of anything it does not cover).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.samplers import BaseSampler
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    RelativeSamplerTestCase,
    SingleOnlySamplerTestCase,
)

from metasearch.families import get_family
from metasearch.metamodel import MetaDataset, MetaModel, TaskSplit
from metasearch.samplers._meta_loading import ColdStartWarning
from metasearch.samplers._meta_sampler import MetaSampler


@cache
def small_model() -> MetaModel:
    """Portfolio, prior and RGPE fitted on 8 synthetic tasks x 30 random trials (~1 s)."""
    family = get_family("synthetic")
    rng = np.random.default_rng(0)
    ids = family.task_ids()[:8]
    results, features = {}, {}
    for task_id in ids:
        task = family.task(task_id)
        configs = [family.space.sample(rng) for _ in range(30)]
        results[task_id] = [task.evaluate(c, device="cpu", seed=0) for c in configs]
        features[task_id] = task.meta_features
    data = MetaDataset.from_results(
        family=family.name, space=family.space, direction=family.direction,
        max_budget=family.max_budget, results=results, meta_features=features)
    split = TaskSplit(train=tuple(ids[:6]), validation=tuple(ids[6:]))
    return MetaModel.train(data, split, kinds=("portfolio", "prior", "rgpe"), seed=0)


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small model saved as a warehouse's ``models/synthetic`` folder."""
    folder = tmp_path_factory.mktemp("warehouse") / "models" / "synthetic"
    small_model().save(folder)
    return folder


def _factory(make: Callable[[], MetaSampler]) -> Callable[[], BaseSampler]:
    def build() -> BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return make()

    return build


class TestColdStart(BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase):
    """MetaSampler() without a warehouse or model."""

    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return _factory(MetaSampler)


class TestWithModel(BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase):
    """MetaSampler from a warehouse holding a small meta-model of the synthetic family."""

    @pytest.fixture
    def sampler(self, model_folder: Path) -> Callable[[], BaseSampler]:
        warehouse = model_folder.parent.parent / "warehouse.db"

        def make() -> MetaSampler:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ColdStartWarning)  # the model must load
                return MetaSampler.from_warehouse(warehouse, family="synthetic")

        return _factory(make)
