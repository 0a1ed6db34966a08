"""The acquisition's numerics: log EI exact and monotone; local search finds a known maximum."""

from __future__ import annotations

import functools
import math
from functools import cache
from typing import Any

import mpmath
import numpy as np
import optuna
import pytest

from metasearch.metamodel import MetaDataset, MetaModel, TaskContext, TaskSplit
from metasearch.metamodel._data import TaskHistory
from metasearch.samplers._acq_optimizer import local_search, neighbours
from metasearch.samplers._meta_acquisition import (
    LARGE_SUPPORT,
    Acquisition,
    Candidates,
    log_expected_improvement,
    log_h,
)
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.samplers._meta_support import NEAR, Support, config_key
from metasearch.spaces import Categorical, Float, Int, SearchSpace


def _exact_log_h(z: float) -> float:
    """``log(z Phi(z) + phi(z))`` in 80-digit arithmetic."""
    with mpmath.workdps(80):
        zz = mpmath.mpf(z)
        return float(mpmath.log(zz * mpmath.ncdf(zz) + mpmath.npdf(zz)))


def test_log_h_is_strictly_increasing_over_minus_40_to_5() -> None:
    z = np.linspace(-40.0, 5.0, 450_001)
    values = log_h(z)
    assert np.isfinite(values).all()
    assert (np.diff(values) > 0).all()


@pytest.mark.parametrize("z", [-40.0, -25.0, -12.5, -6.0, -5.99, -3.0, -1.0 - 1e-9, -1.0,
                               -0.5, 0.0, 1.5, 5.0])
def test_log_h_matches_the_exact_value(z: float) -> None:
    assert log_h(np.array([z]))[0] == pytest.approx(_exact_log_h(z), rel=1e-12, abs=1e-12)


def test_log_ei_is_log_of_the_closed_form_where_that_is_computable() -> None:
    from scipy.stats import norm

    mean = np.array([-0.3, 0.1, 0.5, 0.0])
    std = np.array([0.2, 0.05, 1.0, 0.3])
    best = 0.2
    z = (mean - best) / std
    direct = std * (z * norm.cdf(z) + norm.pdf(z))
    assert np.allclose(log_expected_improvement(mean, std, best), np.log(direct), rtol=1e-12)


def test_the_issue_s_counterexample_is_ordered() -> None:
    assert log_h(np.array([-5.99]))[0] > log_h(np.array([-6.0]))[0]


# -- local search ------------------------------------------------------------------------------

SPACE = SearchSpace(params=(
    Float("a", 0.0, 1.0),
    Float("b", 1e-4, 1.0, log=True),
    Int("c", 1, 64),
    Categorical("d", ("x", "y", "z", "w")),
))
PEAK = {"a": 0.3, "b": 1e-2, "c": 40, "d": "z"}


def _surface(configs: list[dict[str, Any]]) -> np.ndarray:
    """A known acquisition: a smooth bump at PEAK plus a bonus for d = z (maximum at PEAK)."""
    x = SPACE.encode_many(configs)
    peak = SPACE.encode(PEAK)
    numeric = [0, 1, 2]  # a, b, c encode first, in [0, 1]
    bonus = np.array([0.5 if c["d"] == "z" else 0.0 for c in configs])
    return -((x[:, numeric] - peak[numeric]) ** 2).sum(1) * 10.0 + bonus


def _climb(starts: list[dict[str, Any]], taken: set[tuple[float, ...]] | None = None
           ) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    make = Candidates(SPACE, {})
    keys = taken or set()

    def score(batch: list[dict[str, Any]]) -> np.ndarray:
        values = _surface(batch)
        fresh = [config_key(SPACE.encode(c)) not in keys for c in batch]
        return np.where(fresh, values, -np.inf)

    found, found_scores = local_search(starts, score(starts), score, SPACE.flatten,
                                       functools.partial(make.move, rng=rng),
                                       SPACE.distributions(), rng)
    return found[int(np.argmax(found_scores))]


def test_local_search_finds_the_maximum_of_a_known_surface() -> None:
    rng = np.random.default_rng(1)
    pool = [SPACE.sample(rng) for _ in range(64)]
    starts = [pool[i] for i in np.argsort(-_surface(pool))[:4]]  # as the sampler starts
    best = _climb(starts)
    assert best["d"] == "z"
    assert best["a"] == pytest.approx(0.3, abs=0.01)
    assert math.log(best["b"]) == pytest.approx(math.log(1e-2), abs=0.1)
    assert abs(best["c"] - 40) <= 1
    assert _surface([best])[0] > max(_surface(starts)) + 0.1


def test_local_search_never_returns_a_taken_configuration() -> None:
    rng = np.random.default_rng(2)
    starts = [SPACE.sample(rng) for _ in range(3)]
    free = _climb(starts)
    taken = {config_key(SPACE.encode(free))}
    second = _climb(starts, taken)
    assert config_key(SPACE.encode(second)) not in taken


def test_neighbours_move_one_parameter_each() -> None:
    flat = SPACE.flatten(PEAK)
    moves = neighbours(flat, SPACE.distributions(), 0.1, np.random.default_rng(0))
    assert len(moves) == 2 + 2 + 2 + 3
    for move in moves:
        assert sum(move[k] != flat[k] for k in flat) == 1


class _KnownSurface:
    """A predictor whose mean is the known surface and whose std is constant."""

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        peak = SPACE.encode(PEAK)
        bonus = 0.5 * x[:, 3 + ("x", "y", "z", "w").index("z")]
        return -((x[:, :3] - peak[:3]) ** 2).sum(1) * 10.0 + bonus, np.full(len(x), 0.1)


def test_optimised_acquisition_beats_the_best_random_candidate() -> None:
    rng = np.random.default_rng(3)
    pool = [SPACE.sample(rng) for _ in range(64)]
    seen = [SPACE.sample(rng) for _ in range(4)]
    x = SPACE.encode_many(seen)
    support = Support(x, _surface(seen), {config_key(r) for r in x})
    context = TaskContext(x=x, scores=support.scores)
    make = Candidates(SPACE, {})
    plain = Acquisition(_KnownSurface(), None, context, optimize=False).best(pool, SPACE, support)
    tuned = Acquisition(_KnownSurface(), None, context).best(pool, SPACE, support, make, rng)
    assert plain is not None and tuned is not None
    assert _surface([tuned])[0] > _surface([plain])[0]
    assert _surface([tuned])[0] > -0.01 + 0.5


class _CountingPrior:
    """A prior that prefers small ``a`` strongly, and counts its evaluations."""

    def __init__(self) -> None:
        self.calls = 0

    def log_density(self, x: np.ndarray, context: TaskContext) -> np.ndarray:
        self.calls += 1
        return -200.0 * x[:, 0]


@pytest.mark.parametrize("n_seen", [4, LARGE_SUPPORT + 20])
def test_the_prior_is_evaluated_on_the_candidates_and_the_climbs_ends_only(
        n_seen: int) -> None:
    rng = np.random.default_rng(5)
    pool = [SPACE.sample(rng) for _ in range(64)]
    seen = [SPACE.sample(rng) for _ in range(n_seen)]
    x = SPACE.encode_many(seen)
    support = Support(x, _surface(seen), {config_key(r) for r in x})
    prior = _CountingPrior()
    acquisition = Acquisition(_KnownSurface(), prior, TaskContext(x=x, scores=support.scores))
    tuned = acquisition.best(pool, SPACE, support, Candidates(SPACE, {}), rng)
    assert tuned is not None
    calls, prior.calls = prior.calls, 0
    assert calls == 2  # the candidates, then the climbs' ends: the climbs follow EI alone
    whole = acquisition.fresh_scores([tuned, *pool], SPACE, support)
    assert whole[0] >= whole[1:].max()  # judged by the whole acquisition, prior included



TAKEN_PEAK = {"a": 0.85, "b": 0.5, "c": 8, "d": "x"}
"""A tried configuration far from PEAK (the EI surface's maximum), where the prior peaks."""


class _SoftSurface(_KnownSurface):
    """The known surface, uncertain: EI differs by a few nats, as it does after a portfolio."""

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, _ = super().predict(x)
        return 0.1 * mean, np.ones(len(x))


class _PeakedPrior:
    """A learned prior's shape after the portfolio: its density peaks at a tried configuration
    (the portfolio plays the past tasks' best configurations, which are the prior's centres)."""

    def log_density(self, x: np.ndarray, context: TaskContext) -> np.ndarray:
        return -40.0 * ((x - SPACE.encode(TAKEN_PEAK)) ** 2).sum(1)


def test_the_climbs_do_not_walk_up_the_prior_to_a_tried_configuration() -> None:
    """The failure issue #13's ablations showed: climbing EI x prior ended one step beside a
    configuration the portfolio had tried, where the prior peaks; the climbs follow EI."""
    rng = np.random.default_rng(7)
    seen = [SPACE.validate(TAKEN_PEAK), *(SPACE.sample(rng) for _ in range(4))]
    x = SPACE.encode_many(seen)
    support = Support(x, _surface(seen), {config_key(r) for r in x})
    context = TaskContext(x=x, scores=support.scores)
    pool = [SPACE.sample(rng) for _ in range(64)]
    acquisition = Acquisition(_SoftSurface(), _PeakedPrior(), context)
    chosen = acquisition.best(pool, SPACE, support, Candidates(SPACE, {}), rng)
    assert chosen is not None
    gap = np.linalg.norm(SPACE.encode(chosen) - SPACE.encode(TAKEN_PEAK)) / math.sqrt(x.shape[1])
    assert gap > 0.05
    whole = acquisition.fresh_scores([chosen, *pool], SPACE, support)
    assert whole[0] >= whole[1:].max()  # still the whole acquisition's choice among them


# -- no repeat within rounding on a mixed space ---------------------------------------------------


def test_near_taken_means_within_rounding_in_every_column() -> None:
    tried = SPACE.encode(PEAK)
    support = Support(tried[None, :], np.array([1.0]), {config_key(tried)})
    inside = tried.copy()
    inside[0] += 0.9 * NEAR
    inside[2] -= 0.9 * NEAR
    outside = tried.copy()
    outside[1] += 1.1 * NEAR  # one column beyond rounding is another configuration
    other = SPACE.encode({**PEAK, "d": "w"})  # another choice of a categorical
    rows = np.stack([tried, inside, outside, other])
    assert support.near_taken(rows).tolist() == [True, True, False, False]
    assert not Support(np.zeros((0, len(tried))), np.zeros(0)).near_taken(rows).any()
    support.taken.add(config_key(other))  # a claim added later is seen too
    assert support.near_taken(rows).tolist() == [True, True, False, True]


def test_no_proposal_lies_within_rounding_of_a_tried_configuration() -> None:
    """Issue #13: on a mixed space, no trial within rounding of one already tried. The known
    surface peaks at a tried configuration, so the optimiser's best moves are its near-copies
    (1/1000 of a range away); with the rule the proposal is a configuration of its own."""
    rng = np.random.default_rng(3)
    seen = [SPACE.validate(PEAK), *(SPACE.sample(rng) for _ in range(4))]
    x = SPACE.encode_many(seen)
    support = Support(x, _surface(seen), {config_key(r) for r in x})
    context = TaskContext(x=x, scores=support.scores)
    copies = [SPACE.validate({**PEAK, "a": 0.301}), SPACE.validate({**PEAK, "b": 0.0101})]
    pool = [*copies, *(SPACE.sample(rng) for _ in range(64))]

    def gap(config: dict[str, Any] | None) -> float:
        assert config is not None
        return float(np.abs(SPACE.encode(config) - SPACE.encode(PEAK)).max())

    chosen = Acquisition(_KnownSurface(), None, context).best(
        pool, SPACE, support, Candidates(SPACE, {}), np.random.default_rng(0))
    assert gap(chosen) > NEAR
    assert _surface([chosen])[0] > -0.01 + 0.5  # still next to the peak, one step out
    loose = Acquisition(_KnownSurface(), None, context, near=0.0).best(
        pool, SPACE, support, Candidates(SPACE, {}), np.random.default_rng(0))
    assert gap(loose) <= NEAR  # without the rule, a near-copy wins


# -- no repeats on a finite space ----------------------------------------------------------------

FINITE = SearchSpace(params=(
    Categorical("opt", ("sgd", "adam", "rmsprop", "lamb")),
    Categorical("act", ("relu", "gelu", "tanh")),
    Categorical("norm", (True, False)),
))


def _finite_value(config: dict[str, Any], shift: float) -> float:
    return (("sgd", "adam", "rmsprop", "lamb").index(config["opt"]) * (1.0 + shift)
            + ("relu", "gelu", "tanh").index(config["act"]) * 0.5 + 0.3 * config["norm"])


@cache
def _finite_model() -> MetaModel:
    """Portfolio, prior and FSBO on 6 tasks that each tried all 24 configurations."""
    configs = [FINITE.validate({"opt": o, "act": a, "norm": n})
               for o in ("sgd", "adam", "rmsprop", "lamb") for a in ("relu", "gelu", "tanh")
               for n in (True, False)]
    x = FINITE.encode_many(configs)
    tasks = {}
    for t in range(6):
        scores = np.array([_finite_value(c, 0.2 * t) for c in configs])
        tasks[f"t{t}"] = TaskHistory(f"t{t}", {}, tuple(configs), x, scores, scores[:, None])
    data = MetaDataset("finite", FINITE, "maximize", 1, tasks)
    split = TaskSplit(train=tuple(f"t{t}" for t in range(5)), validation=("t5",))
    return MetaModel.train(data, split, kinds=("portfolio", "prior", "surrogate"), seed=0)


def test_a_finite_space_is_covered_without_a_repeat() -> None:
    sampler = MetaSampler(_finite_model(), seed=0, n_candidates=16)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: _finite_value(FINITE.suggest(t), 0.5), n_trials=24)
    keys = [config_key(FINITE.encode(FINITE.unflatten(t.params))) for t in study.trials]
    assert len(set(keys)) == 24


# -- piBO's prior weight -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_the_prior_weighs_beta_over_n(n: int) -> None:
    """piBO (Hvarfner et al., 2022): the prior's log density enters as ``beta / n`` times it,
    ``n`` the support trials with a value, so it steers early and fades; alone (no surrogate)
    it is the whole score."""
    model = _finite_model()
    configs = [FINITE.validate({"opt": o, "act": a, "norm": True})
               for o in ("sgd", "adam", "rmsprop", "lamb") for a in ("relu", "gelu", "tanh")]
    x = FINITE.encode_many(configs)
    rows = [i % 2 for i in range(n)] + [2]  # n trials of two configurations, one failure
    values = [_finite_value(configs[i], 0.5) for i in rows[:-1]] + [math.nan]
    support = Support(x[rows], np.array(values))  # the failed trial does not count in n
    context = TaskContext(meta_features={}, x=support.x, scores=support.scores)
    prior = model.get("prior")
    predictor = model.get("surrogate").adapt(context)
    log_prior = np.asarray(prior.log_density(x, context))
    assert np.ptp(log_prior) > 0.1  # a prior that tells the candidates apart
    with_prior = Acquisition(predictor, prior, context, beta=7.0).scores(x, support)
    without = Acquisition(predictor, None, context, beta=7.0).scores(x, support)
    np.testing.assert_allclose(with_prior - without, 7.0 / n * log_prior, rtol=1e-9, atol=1e-9)
    alone = Acquisition(None, prior, context, beta=7.0).scores(x, support)
    np.testing.assert_allclose(alone, log_prior, rtol=1e-12)
