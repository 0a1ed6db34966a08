"""The unit scale every model moves numbers on: positions, values, steps and bounds."""

from __future__ import annotations

import math

import pytest

from metasearch.spaces import unit_position, unit_value


def test_log_scale_puts_each_decade_at_an_equal_distance() -> None:
    assert unit_position(1e-3, 1e-5, 1.0, True) == pytest.approx(0.4)
    assert unit_value(0.4, 1e-5, 1.0, True) == pytest.approx(1e-3)
    assert unit_position(5.0, 0.0, 10.0, False) == 0.5


def test_positions_outside_the_range_are_kept_and_values_are_clipped() -> None:
    assert unit_position(20.0, 0.0, 10.0, False) == 2.0  # not clipped: transfer needs it
    assert unit_value(2.0, 0.0, 10.0, False) == 10.0
    assert unit_value(-1.0, 1e-5, 1.0, True) == 1e-5


def test_steps_round_onto_the_grid_from_low_and_stay_inside() -> None:
    assert unit_value(0.52, 1.0, 10.0, False, step=3) == 7  # 5.68 -> 1 + 2 * 3
    assert unit_value(1.0, 0.0, 10.0, False, step=3) == 9  # never past high
    assert unit_value(0.5, 4.0, 4.0, False) == 4.0 and unit_position(4.0, 4.0, 4.0, False) == 0.5


def test_value_and_position_invert_each_other() -> None:
    for u in (0.0, 0.13, 0.5, 0.87, 1.0):
        for low, high, log in ((1e-4, 3.0, True), (-2.0, 5.0, False)):
            assert unit_position(unit_value(u, low, high, log), low, high, log) == \
                pytest.approx(u, abs=1e-12)
    assert math.isfinite(unit_position(0.0, 1e-5, 1.0, True))  # a zero on a log scale
