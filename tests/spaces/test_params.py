"""Hyperparameters: validation, sampling, Optuna distributions and encoding."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from metasearch.errors import SpaceError
from metasearch.spaces import Categorical, Condition, Float, Int, hyperparameter_from_dict


def test_float_validates_range_and_type() -> None:
    lr = Float("lr", 1e-4, 1e-1, log=True)
    assert lr.validate(1e-3) == pytest.approx(1e-3)
    for bad in (10.0, 0.0, float("nan"), "0.01", True, None):
        with pytest.raises(SpaceError, match="lr="):
            lr.validate(bad)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(SpaceError, match="log scale"):
        Float("lr", 0.0, 1.0, log=True)
    with pytest.raises(SpaceError, match="not a range"):
        Float("x", 2.0, 1.0)
    with pytest.raises(SpaceError, match="unique"):
        Categorical("c", ("a", "a"))


def test_int_respects_step_and_integrality() -> None:
    width = Int("width", 8, 64, step=8)
    assert width.validate(16) == 16
    assert width.validate(24.0) == 24
    with pytest.raises(SpaceError, match="width=20"):
        width.validate(20)
    with pytest.raises(SpaceError, match=r"width=8\.5"):
        width.validate(8.5)


def test_categorical_keeps_bool_apart_from_int() -> None:
    flag = Categorical("flag", (0, 1))
    assert flag.validate(1) == 1
    with pytest.raises(SpaceError, match="one of"):
        flag.validate(True)


def test_log_sampling_covers_decades_evenly() -> None:
    lr = Float("lr", 1e-5, 1.0, log=True)
    draws = np.log10([lr.sample(np.random.default_rng(i)) for i in range(2000)])
    # Uniform in log space: about a fifth of the draws in each of the five decades.
    counts = np.histogram(draws, bins=5, range=(-5, 0))[0]
    assert counts.min() > 300 and counts.max() < 500


def test_int_log_sampling_stays_in_bounds() -> None:
    width = Int("width", 8, 512, log=True)
    draws = [width.sample(np.random.default_rng(i)) for i in range(500)]
    assert min(draws) >= 8 and max(draws) <= 512 and len(set(draws)) > 50


def test_encoding_is_unit_scaled_and_marks_inactive() -> None:
    lr = Float("lr", 1e-4, 1e-0, log=True)
    assert lr.encode(1e-2) == pytest.approx([0.5])
    momentum = Float("momentum", 0.0, 1.0, condition=Condition("opt", ("sgd",)))
    assert momentum.encode(0.0) == [0.0, 1.0]
    assert momentum.encode(None) == [0.0, 0.0]
    opt = Categorical("opt", ("adam", "sgd"))
    assert opt.encode("sgd") == [0.0, 1.0]
    assert opt.encode(None) == [0.0, 0.0]


def test_distributions_match_optuna() -> None:
    dist = Int("depth", 1, 4).distribution()
    assert isinstance(dist, optuna.distributions.IntDistribution)
    assert (dist.low, dist.high) == (1, 4)
    assert Float("lr", 1e-4, 1.0, log=True).distribution().log


def test_round_trip_through_dict() -> None:
    params = [
        Float("lr", 1e-4, 1.0, log=True),
        Int("width", 8, 64, step=8),
        Categorical("opt", ("adam", "sgd")),
        Float("momentum", 0.0, 0.99, condition=Condition("opt", ("sgd",))),
    ]
    assert [hyperparameter_from_dict(p.to_dict()) for p in params] == params
    with pytest.raises(SpaceError, match="unknown hyperparameter kind 'bogus'"):
        hyperparameter_from_dict({"kind": "bogus", "name": "x"})


def test_degenerate_range_encodes_to_middle() -> None:
    fixed = Float("x", 2.0, 2.0)
    assert fixed.encode(2.0) == [0.5]
    assert math.isclose(fixed.sample(np.random.default_rng(0)), 2.0)
