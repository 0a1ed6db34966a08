"""The comparison's methods: the ``no-features`` ablation withholds the task's meta-features."""

from __future__ import annotations

from typing import Any

import optuna
from synthetic_data import shift_model

from metasearch.compare._methods import METHODS, build_method
from metasearch.families import get_family
from metasearch.metamodel import TaskContext

FAMILY = get_family("shift")


def _first(name: str, features: dict[str, float]) -> list[dict[str, Any]]:
    """The first five configurations method ``name`` tries on a task with ``features``."""
    sampler, _, enqueued = build_method(name, model=shift_model(), space=FAMILY.space,
                                        max_budget=FAMILY.max_budget, task_features=features,
                                        seed=0)
    assert enqueued == []
    study = optuna.create_study(direction="maximize", sampler=sampler)
    out = []
    for _ in range(5):
        trial = study.ask()
        out.append(FAMILY.space.suggest(trial))
        study.tell(trial, 0.5)
    return out


def test_no_features_starts_with_the_uniform_portfolio() -> None:
    assert METHODS["no-features"].group == "ablation" and METHODS["no-features"].uses_model
    features = FAMILY.task(FAMILY.task_ids()[30]).meta_features
    portfolio: Any = shift_model().get("portfolio")
    assert _first("no-features", features) == portfolio.configs(5)
    assert _first("metasearch", features) == portfolio.configs(5, TaskContext(features))
    assert _first("metasearch", features) != _first("no-features", features)
