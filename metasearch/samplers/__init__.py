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

__all__ = ["ResultHook", "TaskObjective", "create_task_study", "make_sampler", "sampler_names"]
