"""Candidates and the acquisition that ranks them: EI under the adapted surrogate times a prior.

Candidates come from three sources, because each covers what the others miss: the learned
prior (where past tasks were good), uniform draws (what the prior may have wrongly ruled out),
and local moves around the incumbent (exploitation once the task's own trials say where it is
good). They are scored by expected improvement over the best support trial under the
surrogate's posterior, weighted by the prior raised to ``beta / n`` (piBO): the prior steers
the first trials and fades as the task's own evidence grows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from scipy.special import log_ndtr

from metasearch.errors import MetasearchError
from metasearch.metamodel import TaskContext
from metasearch.samplers._meta_support import Support, config_key
from metasearch.spaces import SearchSpace

__all__ = ["Acquisition", "Candidates", "log_expected_improvement", "uniform_flat"]

LOCAL_STEP = 0.1
"""Standard deviation of a local move of a numeric parameter, on its unit (log) scale."""
LOCAL_SWITCH = 0.15
"""Probability that a local move changes a categorical parameter (or a cell edge)."""


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """``log EI`` of maximising, computed stably far below the incumbent (no ``log 0``)."""
    std = np.maximum(std, 1e-9)
    z = (mean - best) / std
    # EI = std * (z Phi(z) + phi(z)); for very negative z use the asymptotic phi(z) / z^2.
    log_phi = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    direct = z * np.exp(log_ndtr(z)) + np.exp(log_phi)
    tail = log_phi - 2.0 * np.log(np.maximum(-z, 1.0))
    return np.log(std) + np.where(z > -6.0, np.log(np.maximum(direct, 1e-300)), tail)


def _to_unit(dist: FloatDistribution | IntDistribution, value: float) -> float:
    low, high, v = float(dist.low), float(dist.high), float(value)
    if dist.log:
        low, high, v = math.log(low), math.log(high), math.log(v)
    return 0.5 if high == low else (v - low) / (high - low)


def _from_unit(dist: FloatDistribution | IntDistribution, u: float) -> float | int:
    low, high = float(dist.low), float(dist.high)
    u = min(1.0, max(0.0, u))
    value = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if dist.log \
        else low + u * (high - low)
    if dist.step is not None:
        value = low + round((value - low) / dist.step) * dist.step
    value = min(high, max(low, value))
    return round(value) if isinstance(dist, IntDistribution) else float(value)


def uniform_flat(dists: Mapping[str, BaseDistribution], rng: np.random.Generator
                 ) -> dict[str, Any]:
    """A uniform value of every flat parameter, active or not (numbers on their own scale)."""
    out: dict[str, Any] = {}
    for name, dist in dists.items():
        if isinstance(dist, CategoricalDistribution):
            out[name] = dist.choices[int(rng.integers(len(dist.choices)))]
        elif isinstance(dist, (FloatDistribution, IntDistribution)):
            out[name] = _from_unit(dist, float(rng.random()))
    return out


@dataclass
class Candidates:
    """Candidate configurations of a space, drawn from a prior, uniformly and locally.

    Args:
        space: the model's search space.
        fixed: flat parameters every candidate must take (enqueued or fixed by the user).
    """

    space: SearchSpace
    fixed: Mapping[str, Any]

    def complete(self, flat: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """A configuration from flat values: fixed ones imposed, missing active ones drawn."""
        dists = self.space.distributions()
        merged = {**uniform_flat(dists, rng), **flat, **self.fixed}
        return self.space.unflatten(merged)

    def local(self, centre: Mapping[str, Any], n: int, rng: np.random.Generator
              ) -> list[dict[str, Any]]:
        """``n`` small moves around flat configuration ``centre``."""
        dists = self.space.distributions()
        out = []
        for _ in range(n):
            moved: dict[str, Any] = {}
            for name, value in centre.items():
                dist = dists.get(name)
                if isinstance(dist, CategoricalDistribution):
                    switch = rng.random() < LOCAL_SWITCH
                    moved[name] = dist.choices[int(rng.integers(len(dist.choices)))] \
                        if switch else value
                elif isinstance(dist, (FloatDistribution, IntDistribution)):
                    u = _to_unit(dist, value) + LOCAL_STEP * float(rng.standard_normal())
                    moved[name] = _from_unit(dist, u)
            out.append(self.complete(moved, rng))
        return out

    def draw(self, configs: list[dict[str, Any]], rng: np.random.Generator
             ) -> list[dict[str, Any]]:
        """``configs`` with the fixed parameters imposed (those that no longer fit are dropped).

        ``configs`` must be valid configurations (the prior's and the space's draws are). With
        nothing fixed, each is its own completion, so only the draws :meth:`complete` would
        make are made (keeping the random stream, hence seeded proposals, as they were) and
        the costly flatten-and-validate round trip is skipped.
        """
        if not self.fixed:
            sizes = [len(d.choices) if isinstance(d, CategoricalDistribution) else 0
                     for d in self.space.distributions().values()
                     if isinstance(d, (CategoricalDistribution, FloatDistribution,
                                       IntDistribution))]
            for _ in configs:  # the draws uniform_flat makes, in its order
                for size in sizes:
                    if size:
                        rng.integers(size)
                    else:
                        rng.random()
            return [dict(config) for config in configs]
        out = []
        for config in configs:
            try:
                out.append(self.complete(self.space.flatten(config), rng))
            except (MetasearchError, ValueError):
                continue
        return out


@dataclass
class Acquisition:
    """piBO-weighted expected improvement of an adapted surrogate (either part may be absent).

    Args:
        predictor: the surrogate adapted to the support set, with ``predict(x)``; or None.
        prior: the learned prior, with ``log_density(x, context)``; or None.
        context: the task context the prior is weighted by and the predictor conditioned on
            (the support set's conditioning subset); EI improves on its best predicted mean.
        beta: piBO's prior strength; the prior's exponent is ``beta / n``, ``n`` counting every
            finished support trial.
    """

    predictor: Any | None
    prior: Any | None
    context: TaskContext
    beta: float = 10.0

    def scores(self, x: np.ndarray, support: Support) -> np.ndarray:
        """Log acquisition of each row of ``x`` (higher is better)."""
        total = np.zeros(len(x))
        n = max(support.n_ok, 1)
        if self.predictor is not None:
            mean, std = self.predictor.predict(x)
            ok = np.isfinite(np.asarray(self.context.scores, dtype=np.float64))
            if support.n_ok and ok.any():
                seen = np.asarray(self.context.x, dtype=np.float64)[ok]
                best = float(np.max(self.predictor.predict(seen)[0]))
                total += log_expected_improvement(np.asarray(mean), np.asarray(std), best)
            else:
                total += np.asarray(mean)  # nothing to improve on yet: the predicted best
        if self.prior is not None:
            weight = self.beta / n if self.predictor is not None else 1.0
            total += weight * np.asarray(self.prior.log_density(x, self.context))
        return total

    def best(self, configs: list[dict[str, Any]], space: SearchSpace, support: Support
             ) -> dict[str, Any] | None:
        """The highest-scoring configuration not already taken, or None if all are.

        ``configs`` must be normalized configurations of ``space`` (:class:`Candidates`'
        output), as they are encoded without being checked again.
        """
        if not configs:
            return None
        x = space.encode_many(configs, validated=True)  # Candidates makes valid ones only
        fresh = np.array([config_key(row) not in support.taken for row in x])
        if not fresh.any():
            return None
        scores = np.where(fresh, self.scores(x, support), -np.inf)
        return configs[int(np.argmax(scores))]
