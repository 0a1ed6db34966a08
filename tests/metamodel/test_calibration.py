"""Recalibration: the study's own errors, shrunk towards none, kept only towards caution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metasearch.errors import MetasearchError
from metasearch.metamodel.curves import Recalibration


def test_no_residuals_is_no_correction() -> None:
    assert Recalibration.from_residuals(np.array([np.nan]), 3.0) == Recalibration(0.0, 1.0, 0)


def test_a_biased_model_is_shifted_by_the_shrunk_mean() -> None:
    fix = Recalibration.from_residuals(np.full(30, 2.0), prior_count=3.0)
    assert fix.n == 30
    assert math.isclose(fix.shift, 60.0 / 33.0)
    few = Recalibration.from_residuals(np.full(2, 2.0), prior_count=3.0)
    assert 0 < few.shift < fix.shift  # two residuals move it less than thirty


def test_wide_errors_widen_and_only_caution_is_kept() -> None:
    rng = np.random.default_rng(0)
    wide = Recalibration.from_residuals(3.0 * rng.standard_normal(400), prior_count=3.0)
    assert 2.6 < wide.scale < 3.4
    optimistic = Recalibration.from_residuals(np.full(30, -2.0) + 0.1 * rng.standard_normal(30),
                                              prior_count=3.0)
    assert optimistic.shift == 0.0 and optimistic.scale == 1.0


@pytest.mark.parametrize("kwargs", [{"shift": -0.1}, {"scale": 0.9}, {"shift": math.nan}])
def test_bad_corrections_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(MetasearchError):
        Recalibration(**kwargs)
    with pytest.raises(MetasearchError, match="prior_count"):
        Recalibration.from_residuals(np.zeros(3), 0.0)
