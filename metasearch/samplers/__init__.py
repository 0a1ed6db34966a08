"""Everything that speaks Optuna: the task objective, cold-start samplers, and (later) the
meta-learned MetaSampler and MetaPruner."""

from __future__ import annotations

from metasearch.samplers._study import (
    ResultHook,
    TaskObjective,
    create_task_study,
    make_sampler,
    sampler_names,
)

__all__ = [
    "ColdStartWarning",
    "MetaSampler",
    "ResultHook",
    "TaskObjective",
    "create_task_study",
    "make_sampler",
    "sampler_names",
]


def __getattr__(name: str) -> object:
    """MetaSampler loads on first use (it imports optuna and scipy, about a second)."""
    if name == "MetaSampler":
        from metasearch.samplers._meta_sampler import MetaSampler

        return MetaSampler
    if name == "ColdStartWarning":
        from metasearch.samplers._meta_loading import ColdStartWarning

        return ColdStartWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
