"""Meta-datasets from the synthetic family: real evaluations, milliseconds per trial.

A plain module (not the conftest) so that any test module can import it by name; pytest puts
this folder (``tests/``) on ``sys.path`` because it holds a conftest.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from metasearch.families import get_family
from metasearch.metamodel import MetaDataset, MetaModel, TaskSplit


def evaluated_dataset(task_ids: Sequence[str], n_trials: int, seed: int = 0,
                      family_name: str = "synthetic") -> MetaDataset:
    """``n_trials`` random configurations of each task in ``task_ids``, at full budget."""
    family = get_family(family_name)
    rng = np.random.default_rng(seed)
    results, features = {}, {}
    for task_id in task_ids:
        task = family.task(task_id)
        configs = [family.space.sample(rng) for _ in range(n_trials)]
        results[task_id] = [task.evaluate(c, device="cpu", seed=seed) for c in configs]
        features[task_id] = task.meta_features
    return MetaDataset.from_results(
        family=family.name, space=family.space, direction=family.direction,
        max_budget=family.max_budget, results=results, meta_features=features,
    )


@cache
def shift_model() -> MetaModel:
    """Portfolio and prior fitted on 28 tasks of ``shift`` (best lr follows n_rows; ~3 s).

    Tasks ``shift-28`` to ``shift-39`` are held out.
    """
    family = get_family("shift")
    ids = family.task_ids()
    data = evaluated_dataset(ids[:28], 60, seed=0, family_name="shift")
    return MetaModel.train(data, TaskSplit(train=tuple(ids[:28])), kinds=("portfolio", "prior"))
