"""Candidates and the acquisition's bookkeeping: a moved neighbour is the completed one; the
candidates are predicted once; the prior's trust follows how it ranks the task's trials."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from metasearch.errors import SpaceError
from metasearch.metamodel import TaskContext
from metasearch.samplers._acq_optimizer import moves
from metasearch.samplers._meta_acquisition import (
    TRUST_EVIDENCE,
    TRUST_PSEUDO_TRIALS,
    Acquisition,
    Candidates,
    prior_trust,
)
from metasearch.samplers._meta_support import Support, config_key
from metasearch.spaces import Categorical, CellSpace, Condition, Float, Int, SearchSpace

NUMERIC = SearchSpace(params=(
    Float("lr", 1e-5, 1.0, log=True),
    Float("dropout", 0.0, 0.8),
    Int("width", 8, 512, log=True),
    Int("depth", 1, 9, step=2),
))
CONDITIONAL = SearchSpace(params=(
    Categorical("optimizer", ("adam", "sgd", "rmsprop")),
    Float("lr", 1e-5, 1.0, log=True),
    Float("momentum", 0.0, 0.99, condition=Condition("optimizer", ("sgd", "rmsprop"))),
    Categorical("nesterov", (True, False), condition=Condition("optimizer", ("sgd",))),
    Int("warmup", 0, 10, condition=Condition("optimizer", ("adam",))),
    Categorical("activation", ("relu", "gelu", "tanh")),
))
CELL = SearchSpace(params=(Categorical("channels", (8, 16, 24)),
                           Float("lr", 1e-3, 0.3, log=True)),
                   cells=(CellSpace.nb201("cell"),))


@pytest.mark.parametrize("space", [NUMERIC, CONDITIONAL, CELL], ids=["numeric", "conditional",
                                                                    "cell"])
@pytest.mark.parametrize("fixed", [False, True])
def test_a_moved_neighbour_is_the_completed_one(space: SearchSpace, fixed: bool) -> None:
    """Every neighbour of 40 configurations at two step sizes: the same configuration (keys in
    the same order, values of the same type) and the same random draws as :meth:`complete`."""
    rng = np.random.default_rng(0)
    pinned = {"lr": 0.01} if fixed else {}
    make = Candidates(space, pinned)
    dists = space.distributions()
    configs = [make.complete(space.flatten(space.sample(rng)), rng) for _ in range(40)]
    fast, slow = np.random.default_rng(1), np.random.default_rng(1)
    checked = 0
    for config in configs:
        flat = space.flatten(config)
        for step in (0.1, 0.4):
            for name, value in moves(flat, dists, step, rng):
                moved = make.move(config, flat, name, value, fast)
                completed = make.complete({**flat, name: value}, slow)
                assert list(moved.items()) == list(completed.items())
                assert [type(v) for v in moved.values()] == \
                    [type(v) for v in completed.values()]
                assert fast.bit_generator.state == slow.bit_generator.state
                checked += 1
    assert checked > 40 * 2 * len(space.params)


def test_replace_refuses_a_parameter_a_condition_reads() -> None:
    config = CONDITIONAL.validate({"optimizer": "adam", "lr": 0.01, "warmup": 3,
                                   "activation": "relu"})
    assert CONDITIONAL.sets_activity("optimizer")
    assert not CONDITIONAL.sets_activity("lr")
    assert CONDITIONAL.replace(config, "warmup", 4) == {**config, "warmup": 4}
    with pytest.raises(SpaceError, match="optimizer"):
        CONDITIONAL.replace(config, "optimizer", "sgd")
    with pytest.raises(SpaceError, match="momentum"):  # inactive under adam
        CONDITIONAL.replace(config, "momentum", 0.5)
    with pytest.raises(SpaceError, match=r"0\.5"):
        CONDITIONAL.replace(config, "activation", 0.5)


class _CountingSurface:
    """A smooth predictor over NUMERIC's encoding that records the size of every batch."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(len(x))
        return -((x - 0.3) ** 2).sum(1), np.full(len(x), 0.1)


class _SlopePrior:
    def log_density(self, x: np.ndarray, context: TaskContext, *,
                    remember: bool = False) -> np.ndarray:
        return -5.0 * x[:, 0]


def test_the_candidates_are_encoded_and_predicted_once() -> None:
    """The climbs start from the candidates' EI as computed with their whole acquisition (the
    same batch, so the same numbers), not from a second prediction of them."""
    rng = np.random.default_rng(3)
    pool = [NUMERIC.sample(rng) for _ in range(64)]
    seen = [NUMERIC.sample(rng) for _ in range(4)]
    x = NUMERIC.encode_many(seen)
    scores = -((x - 0.3) ** 2).sum(1)
    support = Support(x, scores, {config_key(r) for r in x})
    surface = _CountingSurface()
    acquisition = Acquisition(surface, _SlopePrior(), TaskContext(x=x, scores=scores))
    chosen = acquisition.best(pool, NUMERIC, support, Candidates(NUMERIC, {}), rng)
    assert chosen is not None
    assert surface.batches.count(len(pool)) == 1
    whole, ei = acquisition._fresh_terms(pool, NUMERIC, support)
    assert not np.array_equal(whole, ei)
    np.testing.assert_array_equal(whole, acquisition.fresh_scores(pool, NUMERIC, support))
    np.testing.assert_array_equal(ei, acquisition.fresh_scores(pool, NUMERIC, support,
                                                               prior=False))


def _ranked(m: int, swaps: int = 0, reverse: bool = False) -> TaskContext:
    """``m`` trials whose scores the slope prior (density falling in ``x[:, 0]``) ranks
    perfectly, in reverse, or with ``swaps`` adjacent pairs exchanged."""
    x = np.zeros((m, 4))
    x[:, 0] = np.linspace(0.0, 1.0, m)
    scores = -x[:, 0].copy() if not reverse else x[:, 0].copy()
    for i in range(swaps):
        scores[2 * i], scores[2 * i + 1] = scores[2 * i + 1], scores[2 * i]
    return TaskContext(x=x, scores=scores)


def test_a_prior_that_ranks_the_trials_right_keeps_full_trust() -> None:
    for m in (10, 40, 100):
        assert prior_trust(_SlopePrior(), _ranked(m)) == pytest.approx(1.0)


@pytest.mark.parametrize("m", [10, 40, 100])
def test_a_prior_that_ranks_them_backwards_keeps_only_its_pseudo_trials(m: int) -> None:
    """Kendall's tau is -1, floored at 0: only the pseudo-trials' trust is left."""
    expected = TRUST_PSEUDO_TRIALS / (TRUST_PSEUDO_TRIALS + m)
    assert prior_trust(_SlopePrior(), _ranked(m, reverse=True)) == pytest.approx(expected)


def test_trust_falls_with_every_misranked_pair_and_ignores_failed_trials() -> None:
    trusts = [prior_trust(_SlopePrior(), _ranked(30, swaps=k)) for k in range(0, 15, 3)]
    assert all(a > b for a, b in itertools.pairwise(trusts))
    # one swapped pair of 30 trials: tau = 1 - 2 / 435
    tau = 1.0 - 2.0 / (30 * 29 / 2)
    expected = (TRUST_PSEUDO_TRIALS + 30 * tau) / (TRUST_PSEUDO_TRIALS + 30)
    assert prior_trust(_SlopePrior(), _ranked(30, swaps=1)) == pytest.approx(expected)
    context = _ranked(30, swaps=6)
    failed = TaskContext(x=np.vstack([context.x, np.full((3, 4), 0.5)]),
                         scores=np.concatenate([context.scores, np.full(3, np.nan)]))
    assert prior_trust(_SlopePrior(), failed) == prior_trust(_SlopePrior(), context)


def test_without_evidence_the_prior_keeps_full_trust() -> None:
    assert prior_trust(None, _ranked(10, reverse=True)) == 1.0
    assert prior_trust(_SlopePrior(), TaskContext()) == 1.0
    assert prior_trust(_SlopePrior(), _ranked(1, reverse=True)) == 1.0
    # too few trials to read a rank correlation off: full trust however they are ranked
    assert prior_trust(_SlopePrior(), _ranked(TRUST_EVIDENCE - 1, reverse=True)) == 1.0
    assert prior_trust(_SlopePrior(), _ranked(TRUST_EVIDENCE, reverse=True)) < 1.0
    tied = _ranked(10)
    assert prior_trust(_SlopePrior(), TaskContext(x=tied.x, scores=np.ones(10))) == 1.0
    one_ok = TaskContext(x=tied.x[:3], scores=np.array([1.0, np.nan, np.nan]))
    assert prior_trust(_SlopePrior(), one_ok) == 1.0


def test_trust_scales_the_prior_term_of_the_acquisition() -> None:
    """Trust 0 leaves EI alone; the prior's term is linear in the trust."""
    rng = np.random.default_rng(5)
    seen = NUMERIC.encode_many([NUMERIC.sample(rng) for _ in range(6)])
    support = Support(seen, -((seen - 0.3) ** 2).sum(1), {config_key(r) for r in seen})
    context = TaskContext(x=seen, scores=support.scores)
    x = NUMERIC.encode_many([NUMERIC.sample(rng) for _ in range(32)])

    def scored(trust: float) -> np.ndarray:
        return Acquisition(_CountingSurface(), _SlopePrior(), context, trust=trust).scores(
            x, support)

    ei = Acquisition(_CountingSurface(), _SlopePrior(), context).scores(x, support, prior=False)
    np.testing.assert_allclose(scored(0.0), ei)
    np.testing.assert_allclose(scored(1.0) - ei, 2.0 * (scored(0.5) - ei))
    assert not np.allclose(scored(1.0), ei)
