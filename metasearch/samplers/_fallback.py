"""The fallback sampler's values, kept inside the model space's forbidden clauses.

MetaSampler leaves a trial to its fallback sampler (TPE, random) where the meta-model has
nothing to say: a model without a portfolio, prior or surrogate, or past its warm start, a
proposal that failed, a parameter asked for only independently. Optuna's samplers know no
forbidden clauses, so the fallback would propose a forbidden configuration now and then, and
the task would fail it unrun: a trial spent on nothing. So its values are drawn again while,
with what the trial already holds, a forbidden clause holds on them; after
:data:`FALLBACK_TRIES` draws, the model space completes the configuration by rejection
(:meth:`SearchSpace.sample` with the chosen values fixed), which either finds an allowed one or
raises a :class:`SpaceError` naming the clause that rules nearly everything out.

A clause is judged on the active part of the configuration known so far
(:meth:`SearchSpace.active_values`): one that holds there holds on the whole, so nothing
allowed is refused; a clause over a parameter not chosen yet is judged when it is. Conditions
need no repair: :meth:`SearchSpace.suggest` asks only for active parameters, and an inactive
value is never read. A space without forbidden clauses draws exactly as before (one draw, no
extra random numbers), so every seeded result without them is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from metasearch.samplers._optuna_private import contains
from metasearch.spaces import SearchSpace

__all__ = ["FALLBACK_TRIES", "allowed_draw", "known_values"]

FALLBACK_TRIES = 32
"""Fallback draws tried before the model space completes the configuration itself."""


def known_values(trial: FrozenTrial, dists: Mapping[str, BaseDistribution]
                 ) -> dict[str, Any]:
    """What ``trial`` holds already of the model's parameters: its enqueued (fixed) values and
    the values suggested so far, where they lie in the model's own distribution."""
    fixed = trial.system_attrs.get("fixed_params", {})
    out = {k: v for k, v in fixed.items() if k in dists and contains(dists[k], v)}
    out.update({k: v for k, v in trial.params.items()
                if k in dists and trial.distributions.get(k) == dists[k]})
    return out


def allowed_draw(space: SearchSpace | None, chosen: Mapping[str, Any],
                 draw: Callable[[], dict[str, Any]], seed: tuple[int, int]) -> dict[str, Any]:
    """``draw()``'s flat values, drawn again while, joined to ``chosen``, they are forbidden.

    Args:
        space: the model's space; None (no model) takes the first draw.
        chosen: flat values the trial holds already (kept as they are).
        draw: one draw of the fallback sampler, flat values by name.
        seed: seeds the completion, drawn only when every try was forbidden.

    Raises:
        SpaceError: no allowed configuration completes ``chosen`` in
            :data:`~metasearch.spaces.MAX_REJECTIONS` uniform draws either.
    """
    values = draw()
    if space is None or not space.forbidden:
        return values
    for _ in range(FALLBACK_TRIES - 1):
        if space.forbidding(space.active_values({**chosen, **values})) is None:
            return values
        values = draw()
    if space.forbidding(space.active_values({**chosen, **values})) is None:
        return values
    completion = space.sample(np.random.default_rng(seed), fixed=space.active_values(chosen))
    return {**values, **{k: v for k, v in completion.items() if k in values}}
