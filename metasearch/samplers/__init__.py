"""Everything that speaks Optuna: the task objective, cold-start samplers, and the
meta-learned MetaSampler and MetaPruner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metasearch.samplers._methods import (
    METHODS,
    PRUNERS,
    SAMPLERS,
    Built,
    MethodSpec,
    SearchInputs,
    build_method,
    build_pruner,
    build_sampler,
    lookup,
)
from metasearch.samplers._study import (
    ResultHook,
    TaskObjective,
    create_task_study,
    make_sampler,
    sampler_names,
)

if TYPE_CHECKING:  # loaded lazily at run time, by __getattr__ below
    from metasearch.samplers._callback import WarehouseCallback
    from metasearch.samplers._meta_loading import ColdStartWarning
    from metasearch.samplers._meta_pruner import MetaPruner
    from metasearch.samplers._meta_sampler import MetaSampler

__all__ = [
    "METHODS",
    "PRUNERS",
    "SAMPLERS",
    "Built",
    "ColdStartWarning",
    "MetaPruner",
    "MetaSampler",
    "MethodSpec",
    "ResultHook",
    "SearchInputs",
    "TaskObjective",
    "WarehouseCallback",
    "build_method",
    "build_pruner",
    "build_sampler",
    "create_task_study",
    "lookup",
    "make_sampler",
    "sampler_names",
]


def __getattr__(name: str) -> object:
    """MetaSampler, MetaPruner, WarehouseCallback load on first use (optuna, scipy: a second)."""
    if name == "MetaSampler":
        from metasearch.samplers._meta_sampler import MetaSampler

        return MetaSampler
    if name == "MetaPruner":
        from metasearch.samplers._meta_pruner import MetaPruner

        return MetaPruner
    if name == "WarehouseCallback":
        from metasearch.samplers._callback import WarehouseCallback

        return WarehouseCallback
    if name == "ColdStartWarning":
        from metasearch.samplers._meta_loading import ColdStartWarning

        return ColdStartWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
