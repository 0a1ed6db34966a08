"""Candidates: a local search's neighbour made by replacing one value is the completed one."""

from __future__ import annotations

import numpy as np
import pytest

from metasearch.errors import SpaceError
from metasearch.samplers._acq_optimizer import moves
from metasearch.samplers._meta_acquisition import Candidates
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
