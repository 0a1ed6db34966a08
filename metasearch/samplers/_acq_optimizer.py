"""Maximising the acquisition over a mixed space: multi-start local search from good candidates.

Scoring a few hundred random candidates searches a seven-dimensional acquisition coarsely: the
best of them is rarely near the acquisition's maximum, and late in a search, when the maximum
is a narrow ridge near the incumbent, it is almost never hit. GP-based samplers therefore
polish the best candidates by local search (Optuna's GPSampler: multi-start L-BFGS on the
continuous parameters and coordinate search on the discrete ones; SMAC: local search from the
best configurations). Here every parameter is moved the same way, which covers numbers,
integers, categoricals, conditional parameters and cell edges alike: from each of the best
``n_starts`` fresh candidates, a steepest-ascent coordinate search tries, per parameter, one
step up and one down on its unit (log) scale and every other choice of a categorical (a cell
edge's other operations), moves to the best neighbour while it improves, and halves the step
when none does. Neighbours already taken score minus infinity, so a climb never ends on a
repeat. Each round scores all climbers' neighbours in one batch; each climb's end is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from metasearch.errors import MetasearchError
from metasearch.spaces import unit_position, unit_value

__all__ = ["Move", "from_unit", "local_search", "moves", "neighbours", "to_unit"]

START_STEP = 0.1
"""A climb's first step on each numeric parameter's unit (log) scale."""
MIN_STEP = 1.0 / 256.0
"""A climb stops when its step falls below this (about 8 bits of the unit interval)."""
MAX_ROUNDS = 10
"""Rounds of moves per climb at most."""
MAX_ALTERNATIVES = 6
"""Other choices tried per categorical parameter and round (drawn when there are more)."""

def to_unit(dist: FloatDistribution | IntDistribution, value: float) -> float:
    """``value`` on its distribution's unit scale (log scale for a log distribution)."""
    return unit_position(float(value), float(dist.low), float(dist.high), dist.log)


def from_unit(dist: FloatDistribution | IntDistribution, u: float) -> float | int:
    """The value at ``u`` of the unit scale (clipped; on the step grid; an int for ints)."""
    value = unit_value(u, float(dist.low), float(dist.high), dist.log, dist.step)
    return round(value) if isinstance(dist, IntDistribution) else float(value)


Score = Callable[[list[dict[str, Any]]], np.ndarray]


def _numeric_moves(dist: FloatDistribution | IntDistribution, value: Any, step: float
                   ) -> list[Any]:
    """``value`` moved ``step`` down and up on its unit scale (an integer by at least one)."""
    u = to_unit(dist, value)
    out = []
    for sign in (-1.0, 1.0):
        moved = from_unit(dist, u + sign * step)
        if moved == value and isinstance(dist, IntDistribution):
            nudged = value + int(sign) * (dist.step or 1)
            moved = nudged if dist.low <= nudged <= dist.high else value
        if moved != value:
            out.append(moved)
    return out


def moves(flat: Mapping[str, Any], dists: Mapping[str, BaseDistribution], step: float,
          rng: np.random.Generator) -> list[tuple[str, Any]]:
    """The coordinate moves from ``flat``: each as the parameter moved and its new value."""
    out: list[tuple[str, Any]] = []
    for name, value in flat.items():
        dist = dists.get(name)
        if isinstance(dist, CategoricalDistribution):
            others = [c for c in dist.choices if c != value]
            if len(others) > MAX_ALTERNATIVES:
                picks = rng.choice(len(others), MAX_ALTERNATIVES, replace=False)
                others = [others[i] for i in sorted(picks)]
            out.extend((name, choice) for choice in others)
        elif isinstance(dist, (FloatDistribution, IntDistribution)):
            out.extend((name, moved) for moved in _numeric_moves(dist, value, step))
    return out


def neighbours(flat: Mapping[str, Any], dists: Mapping[str, BaseDistribution], step: float,
               rng: np.random.Generator) -> list[dict[str, Any]]:
    """The flat configurations one coordinate move away from ``flat``."""
    return [{**flat, name: value} for name, value in moves(flat, dists, step, rng)]


@dataclass
class _Climb:
    flat: dict[str, Any]
    config: dict[str, Any]
    score: float
    step: float = START_STEP
    done: bool = False


Move = Callable[[dict[str, Any], dict[str, Any], str, Any], dict[str, Any]]
"""A configuration, its flat form, a flat parameter and a new value, to the configuration with
that parameter moved (completed and valid; may raise for an invalid combination)."""


def _round(climbs: list[_Climb], dists: Mapping[str, BaseDistribution], move: Move,
           rng: np.random.Generator) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Every active climb's neighbours as configurations, and which climb each belongs to."""
    batch: list[dict[str, Any]] = []
    owner: list[int] = []
    for i, climb in enumerate(climbs):
        for name, value in moves(climb.flat, dists, climb.step, rng):
            try:
                batch.append(move(climb.config, climb.flat, name, value))
            except (MetasearchError, ValueError):
                continue
            owner.append(i)
    return batch, np.asarray(owner, dtype=np.int64)


def local_search(starts: Sequence[dict[str, Any]], start_scores: np.ndarray, score: Score,
                 flatten: Callable[[Mapping[str, Any]], dict[str, Any]], move: Move,
                 dists: Mapping[str, BaseDistribution], rng: np.random.Generator,
                 rounds: int = MAX_ROUNDS) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Climb from each start; where each climb ended (its best configuration), with its score.

    Only the ends are returned, one per start: they are the acquisition's local maxima the
    starts lead to, and a caller that weighs them by more than the climbed score (the sampler
    adds the prior) should choose among maxima, not among the steps on the way to one.

    Args:
        starts: configurations to climb from (fresh ones, best first).
        start_scores: their scores.
        score: the acquisition of a list of configurations (minus infinity where taken).
        flatten: a configuration to its flat parameters.
        move: a configuration with one flat parameter moved, as a valid configuration (fixed
            ones imposed, missing active ones drawn); may raise for an invalid combination.
        dists: the flat parameters' distributions.
        rng: draws categorical alternatives and missing parameters.
        rounds: rounds at most.
    """
    numeric = any(isinstance(d, (FloatDistribution, IntDistribution)) for d in dists.values())
    climbs = [_Climb(flatten(c), dict(c), float(s))
              for c, s in zip(starts, start_scores, strict=True) if np.isfinite(s)]
    for _ in range(rounds):
        active = [c for c in climbs if not c.done]
        if not active:
            break
        batch, owner = _round(active, dists, move, rng)
        values = np.asarray(score(batch), dtype=np.float64) if batch else np.zeros(0)
        for i, climb in enumerate(active):
            mine = np.flatnonzero(owner == i)
            j = int(mine[np.argmax(values[mine])]) if mine.size else -1
            if j >= 0 and values[j] > climb.score:
                climb.config, climb.flat, climb.score = batch[j], flatten(batch[j]), values[j]
            else:
                climb.step /= 2.0
                climb.done = not numeric or climb.step < MIN_STEP or j < 0
    return [c.config for c in climbs], np.array([c.score for c in climbs], dtype=np.float64)
