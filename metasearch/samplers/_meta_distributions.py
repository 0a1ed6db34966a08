"""Mapping a meta-model's proposal into the distribution the study actually asks for.

The study's distribution is the truth: an objective may ask for ``optimizer`` among fewer
choices than the model knows, or for ``lr`` on a narrower or wider range. Where the mapping is
sound the model's value is carried over; otherwise the parameter goes to the fallback sampler.

Sound mappings (model distribution ``M`` -> study distribution ``U``):

- categorical -> categorical whose choices are a subset of ``M``'s: the proposal is kept when
  it is one of ``U``'s choices (the fallback draws this trial's value otherwise);
- float -> float and int -> int on the same scale (both log or both linear): the proposal is
  clipped into ``U``'s range and put on its step grid, so a narrower range gets the nearest
  value inside it and a wider one gets the model's value unchanged.

Anything else (another kind, another scale, choices the model never saw) is not sound: the
model knows nothing of those values, so the fallback samples them.
"""

from __future__ import annotations

import math
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["NOT_MAPPED", "map_value", "mappable"]

NOT_MAPPED: Any = object()
"""Returned by :func:`map_value` when this value cannot be carried over."""


def mappable(model: BaseDistribution, study: BaseDistribution) -> bool:
    """Whether proposals made in ``model`` can be carried into ``study`` (see module doc)."""
    if isinstance(model, CategoricalDistribution) and isinstance(study, CategoricalDistribution):
        known = set(map(_key, model.choices))
        return all(_key(c) in known for c in study.choices)
    numeric = (FloatDistribution, IntDistribution)
    return (isinstance(model, numeric) and type(model) is type(study)
            and bool(model.log) == bool(study.log))


def map_value(value: Any, model: BaseDistribution, study: BaseDistribution) -> Any:
    """``value`` (a proposal in ``model``) as a value of ``study``, or :data:`NOT_MAPPED`."""
    if not mappable(model, study):
        return NOT_MAPPED
    if isinstance(study, CategoricalDistribution):
        for choice in study.choices:
            if _key(choice) == _key(value):
                return choice
        return NOT_MAPPED
    if isinstance(study, IntDistribution):
        return _on_grid_int(value, study)
    if isinstance(study, FloatDistribution):
        return _on_grid_float(value, study)
    return NOT_MAPPED


def _key(choice: Any) -> tuple[str, Any]:
    """Choices compare by type and value (``True`` is not ``1``, ``1`` is not ``"1"``)."""
    return (type(choice).__name__, choice)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _on_grid_int(value: Any, dist: IntDistribution) -> Any:
    number = _number(value)
    if number is None:
        return NOT_MAPPED
    steps = round((min(max(number, dist.low), dist.high) - dist.low) / dist.step)
    return int(min(dist.low + steps * dist.step, dist.high))


def _on_grid_float(value: Any, dist: FloatDistribution) -> Any:
    number = _number(value)
    if number is None:
        return NOT_MAPPED
    clipped = min(max(number, dist.low), dist.high)
    if dist.step is None:
        return clipped
    steps = round((clipped - dist.low) / dist.step)
    return min(dist.low + steps * dist.step, dist.high)
