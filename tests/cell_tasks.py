"""A finite space for the "never proposed twice" checks: a cell-only family of 26 networks.

The synthetic family's continuous parameters never collide, so a repeat check on it passes
even when MetaSampler forgets what it tried. Here the space is one small cell (3 nodes, 4 ops:
64 cells, 26 distinct networks once isomorphic and dead-edge cells are merged), so a sampler
that lost its record of tried configurations proposes one network twice within a dozen
trials. Tasks are analytic (a per-task weight per edge and op, on the network's canonical
encoding), related across the family so that a meta-model learns something to propose from.

A plain module, like ``synthetic_data``; the family is not registered (tests and worker
processes build it by importing this module).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import optuna

from metasearch.evaluation import CurveRecorder
from metasearch.families import Task, TaskFamily
from metasearch.metamodel import MetaDataset, MetaModel, TaskSplit
from metasearch.metamodel.surrogates import FSBOConfig, FSBOSurrogate
from metasearch.samplers._meta_support import config_key
from metasearch.spaces import CellSpace, SearchSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
EPOCHS = 3
OP_VALUE = np.array([0.0, 0.4, 0.7, 1.0])  # family-wide value of each op, as in ``synthetic``


def _rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


class CellOnlyFamily(TaskFamily):
    """Sixteen analytic tasks over one 3-node cell (see the module docstring)."""

    name = "cell-only"
    description = "analytic tasks over a 26-network cell (finite: repeats are possible)"
    metric = "valid_score"  # maximized (TaskFamily's default direction)
    max_budget = EPOCHS
    uses_torch = False

    def build_space(self) -> SearchSpace:
        return SearchSpace(cells=(CellSpace(name="cell", n_nodes=3, ops=OPS),))

    def task_ids(self) -> list[str]:
        return [f"cell-{i:02d}" for i in range(16)]

    def make_task(self, task_id: str) -> Task:
        return CellTask(self, task_id)


class CellTask(Task):
    """A task whose value is a weighted sum over its network's (canonical) edge ops."""

    def __init__(self, family: TaskFamily, task_id: str) -> None:
        super().__init__(family, task_id)
        z = _rng("weights", task_id).standard_normal((3, len(OPS)))
        self.weights = (OP_VALUE[None, :] + 0.4 * z).ravel()

    def compute_meta_features(self) -> dict[str, float]:
        noise = _rng("meta", self.id).standard_normal(2)
        w = self.weights.reshape(3, len(OPS))
        return {"conv_bias": float(w[:, 3].mean() + 0.1 * noise[0]),
                "skip_bias": float(w[:, 1].mean() + 0.1 * noise[1])}

    def final_value(self, config: dict[str, Any]) -> float:
        """The noise-free value: the network's weighted ops squashed into (0, 1)."""
        x = self.family.space.encode(config)
        return float(1.0 / (1.0 + np.exp(-(x @ self.weights - 1.5))))

    def _train(self, config: dict[str, Any], budget: int, device: str, seed: int,
               curve: CurveRecorder) -> float | None:
        final = self.final_value(config)
        for t in range(1, budget + 1):
            curve.step(final * (0.6 + 0.4 * t / EPOCHS))
        return final


FAMILY = CellOnlyFamily()
SPACE = FAMILY.space
N_NETWORKS = len({config_key(SPACE.encode({"cell": c})) for c in SPACE.cells[0].all_cells()})


def dataset(task_ids: Sequence[str], n_trials: int = 20, seed: int = 0) -> MetaDataset:
    """``n_trials`` random cells of each task, evaluated at full budget."""
    rng = np.random.default_rng(seed)
    results = {t: [FAMILY.task(t).evaluate(SPACE.sample(rng), device="cpu", seed=seed)
                   for _ in range(n_trials)] for t in task_ids}
    return MetaDataset.from_results(
        family=FAMILY.name, space=SPACE, direction=FAMILY.direction,
        max_budget=FAMILY.max_budget, results=results,
        meta_features={t: FAMILY.task(t).meta_features for t in task_ids})


@cache
def cell_model() -> MetaModel:
    """Portfolio, prior, RGPE and a short-trained FSBO surrogate, fitted on tasks 0-9.

    Tasks 10-11 validate; 12-15 are held out. FSBO gets 100 meta-training steps instead of
    its default early-stopped run (a minute here): the checks that use this model need its
    proposals to be the model's, not good ones.
    """
    ids = FAMILY.task_ids()
    data = dataset(ids[:12])
    split = TaskSplit(train=tuple(ids[:10]), validation=tuple(ids[10:12]))
    model = MetaModel.train(data, split, kinds=("portfolio", "prior", "rgpe"), seed=0)
    fsbo = FSBOSurrogate(FSBOConfig(max_steps=100, seed=0))
    model.reports["surrogate"] = fsbo.fit(data.subset(split.train),
                                          data.subset(split.validation))
    model.components["surrogate"] = fsbo
    return model


HELD_OUT = tuple(FAMILY.task_ids()[12:])


def objective(task_id: str) -> Any:
    """The held-out task's noise-free value as an Optuna objective."""
    task: Any = FAMILY.task(task_id)
    return lambda trial: task.final_value(SPACE.suggest(trial))


def network_key(arch: str) -> tuple[float, ...]:
    """The key of network ``arch`` (an NB201 string), as MetaSampler keys configurations."""
    return config_key(SPACE.encode({"cell": arch}))


def network_keys(study: optuna.Study) -> list[tuple[float, ...]]:
    """One key per trial: trials with one key tried the same network."""
    return [config_key(SPACE.encode(SPACE.unflatten(t.params))) for t in study.trials]
