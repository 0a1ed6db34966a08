"""SearchSpace: validation, define-by-run suggestion, Optuna's flat view and the encoding."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from metasearch.errors import SpaceError
from metasearch.spaces import Categorical, CellSpace, Condition, Float, Int, SearchSpace

ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace(
        params=(
            Float("lr", 1e-4, 1.0, log=True),
            Int("width", 8, 256, log=True),
            Categorical("optimizer", ("adam", "sgd")),
            Float("momentum", 0.0, 0.99, condition=Condition("optimizer", ("sgd",))),
        ),
        cells=(CellSpace.nb201(),),
    )


def test_validate_drops_inactive_and_normalizes(space: SearchSpace) -> None:
    config = {"lr": 0.01, "width": 32.0, "optimizer": "adam", "momentum": 0.5, "cell": ARCH}
    valid = space.validate(config)
    assert "momentum" not in valid
    assert valid["width"] == 32 and isinstance(valid["width"], int)


def test_validate_names_the_problem(space: SearchSpace) -> None:
    good = {"lr": 0.01, "width": 32, "optimizer": "sgd", "momentum": 0.9, "cell": ARCH}
    with pytest.raises(SpaceError, match="lacks 'momentum'"):
        space.validate({k: v for k, v in good.items() if k != "momentum"})
    with pytest.raises(SpaceError, match=r"unknown parameter\(s\) \['depth'\]"):
        space.validate({**good, "depth": 3})
    with pytest.raises(SpaceError, match="lr=5"):
        space.validate({**good, "lr": 5})
    with pytest.raises(SpaceError, match="conv_9x9"):
        space.validate({**good, "cell": ARCH.replace("avg_pool_3x3", "conv_9x9")})


def test_a_condition_must_follow_its_parent() -> None:
    with pytest.raises(SpaceError, match=r"parent\(s\) \['optimizer'\]"):
        SearchSpace(params=(Float("momentum", 0, 1, condition=Condition("optimizer", ("sgd",))),))


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(SpaceError, match="unique"):
        SearchSpace(params=(Float("x", 0, 1), Float("x", 0, 2)))


def test_flatten_round_trips(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        config = space.sample(rng)
        flat = space.flatten(config)
        assert "cell" not in flat and "cell_edge_0_1" in flat
        assert space.unflatten(flat) == space.validate(config)


def test_suggest_is_define_by_run(space: SearchSpace) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = []
    for _ in range(30):
        trial = study.ask()
        configs.append(space.suggest(trial))
        study.tell(trial, 0.0)
    assert {c["optimizer"] for c in configs} == {"adam", "sgd"}
    for config, trial in zip(configs, study.trials, strict=True):
        assert ("momentum" in trial.params) == (config["optimizer"] == "sgd")
        assert space.unflatten(trial.params) == config


def test_every_optuna_sampler_can_search_the_flat_space(space: SearchSpace) -> None:
    dists = space.distributions()
    assert set(dists) == {"lr", "width", "optimizer", "momentum", *CellSpace.nb201().param_names}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    study.optimize(lambda t: space.encode(space.suggest(t)).sum(), n_trials=15)
    assert len(study.trials) == 15


def test_encoding_has_fixed_length_and_range(space: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    codes = space.encode_many([space.sample(rng) for _ in range(40)])
    assert codes.shape == (40, space.encoding_length)
    assert codes.min() >= 0.0 and codes.max() <= 1.0
    assert len({c.tobytes() for c in codes}) == 40


def test_isomorphic_cells_encode_alike(space: SearchSpace) -> None:
    base = {"lr": 0.01, "width": 32, "optimizer": "adam"}
    # Nodes 1 and 2 swap roles; node 2 does not read node 1 in either, so the networks match.
    a = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    b = "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    assert np.array_equal(space.encode({**base, "cell": a}), space.encode({**base, "cell": b}))
    c = a.replace("nor_conv_1x1~1", "nor_conv_3x3~1")
    assert not np.array_equal(space.encode({**base, "cell": a}), space.encode({**base, "cell": c}))


def test_description_round_trips_and_fingerprints(space: SearchSpace) -> None:
    again = SearchSpace.from_dict(space.to_dict())
    assert again == space
    assert again.fingerprint() == space.fingerprint()
    other = SearchSpace(params=space.params[:2], cells=space.cells)
    assert other.fingerprint() != space.fingerprint()
    with pytest.raises(SpaceError, match="malformed"):
        SearchSpace.from_dict({"cells": [{"name": "cell"}]})


def test_encode_many_equals_encode_row_by_row(space: SearchSpace) -> None:
    rng = np.random.default_rng(4)
    configs = [space.sample(rng) for _ in range(60)]
    expected = np.stack([space.encode(c) for c in configs])
    np.testing.assert_array_equal(space.encode_many(configs), expected)
    np.testing.assert_array_equal(space.encode_many(configs, validated=True), expected)
    assert space.encode_many([]).shape == (0, space.encoding_length)


def test_encode_many_of_repeated_values_is_bit_for_bit_encode(space: SearchSpace) -> None:
    """Batches with repeated values (each distinct value is encoded once), and 0.0 beside
    -0.0, which compare equal but encode apart."""
    rng = np.random.default_rng(5)
    base = [space.sample(rng) for _ in range(3)]
    configs = [*(dict(c) for c in base for _ in range(8)), *base, space.sample(rng)]
    zeros = SearchSpace(params=(Float("x", 0.0, 1.0), Categorical("c", (0.0, 1.0))))
    signed = [{"x": 0.0, "c": 0.0}, {"x": -0.0, "c": 1.0}, {"x": 0.0, "c": 0.0}]
    for sp, batch in ((space, configs), (zeros, signed)):
        expected = np.stack([sp.encode(c) for c in batch])
        assert sp.encode_many(batch, validated=True).tobytes() == expected.tobytes()
    assert np.signbit(zeros.encode_many(signed)[1, 0])


def test_cached_encodings_and_distributions_are_not_shared_with_callers(
        space: SearchSpace) -> None:
    config = space.sample(np.random.default_rng(0))
    first = space.encode(config)
    first[:] = -1.0
    assert (space.encode(config) >= 0).all()
    dists = space.distributions()
    dists.clear()
    assert space.distributions()
    for cell in space.cells:
        vector = cell.encode(config[cell.name])
        vector[:] = 7.0
        assert set(cell.encode(config[cell.name])) == {0.0, 1.0}
