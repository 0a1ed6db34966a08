"""The target-only GP and its blend with a meta-learned surrogate (``surrogates._target``).

The leave-one-out formulas are checked against refitting without each point, the ARD GP
against a response that depends on one column, and the ranking weights against a surrogate
that ranks the task's trials backwards (the task's own GP must take over) or exactly (the
surrogate must keep its weight).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metasearch.metamodel import TaskContext
from metasearch.metamodel.surrogates import FSBOConfig, FSBOSurrogate, TargetBlend, own_gp
from metasearch.metamodel.surrogates._kernels import SQRT5, matern52
from metasearch.metamodel.surrogates._target import ArdGP, _weighted_sq_dist, loo_rank_weights


def _data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    return x, np.sin(6.0 * x[:, 0]) + 0.05 * rng.standard_normal(n)


def _kernel(sq: np.ndarray, ell: np.ndarray, signal: float) -> np.ndarray:
    """The textbook ARD Matern-5/2 kernel of per-column squared differences ``sq``."""
    return signal * matern52(SQRT5 * np.sqrt(np.maximum(sq @ (ell ** -2.0), 0.0)))


def test_ard_gp_learns_which_column_matters() -> None:
    x, y = _data(40, 4)
    gp = ArdGP(x, y)
    lengthscales = np.exp(gp.log_theta[:4])
    assert lengthscales[0] < 0.3 * lengthscales[1:].min()
    test_x, test_y = _data(200, 4, seed=1)
    mean, _ = gp.predict(test_x)
    assert np.corrcoef(mean, test_y)[0, 1] > 0.95


def test_ard_objective_is_the_full_matrix_posterior_and_its_gradient() -> None:
    """The per-pair likelihood equals the textbook one on the whole ``(n, n)`` kernel, and
    its gradient equals central finite differences, away from the fitted optimum."""
    x, y = _data(15, 3)
    gp = ArdGP(x, y)
    theta = gp.log_theta + np.array([0.3, -0.2, 0.1, 0.2, -0.4])
    ell, signal, noise = np.exp(theta[:3]), np.exp(theta[3]), np.exp(theta[4])
    k = _kernel(np.square(x[:, None] - x[None]), ell, signal) + (noise + 1e-9) * np.eye(15)
    z = (theta[:3] - gp._prior_loc) / gp._prior_scale
    expected = 0.5 * gp.y @ np.linalg.solve(k, gp.y) + 0.5 * np.linalg.slogdet(k)[1] \
        + 0.5 * z @ z
    value, grad = gp._objective(theta)
    assert value == pytest.approx(expected, rel=1e-10)
    step = 1e-4  # smaller steps drown in the rounding of a nearly singular kernel
    numeric = [(gp._objective(theta + step * e)[0] - gp._objective(theta - step * e)[0])
               / (2 * step) for e in np.eye(5)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("neighbours", [True, False])
def test_weighted_distances_are_the_plain_column_sum_bit_for_bit(neighbours: bool) -> None:
    """Columns with few distinct query values (a climb's neighbours, one-hot columns) take a
    per-value table; every entry must round exactly as the plain per-column sum does, so the
    target GP's predictions, hence the proposals, do not move."""
    rng = np.random.default_rng(0)
    centres = rng.random((30, 6))
    centres[:, 4:] = rng.integers(0, 2, (30, 2))  # one-hot-like columns
    if neighbours:  # 8 climbs' neighbours: each row moves one numeric column of its climb
        climbs = np.repeat(rng.random((8, 6)), 9, axis=0)
        climbs[:, 4:] = np.round(climbs[:, 4:])
        climbs[np.arange(72), rng.integers(0, 4, 72)] = rng.random(72)
        queries = climbs
    else:
        queries = rng.random((40, 6))
    weights = rng.random(6) * 50.0
    expected = np.zeros((len(queries), len(centres)))
    for k in range(6):
        expected += weights[k] * np.square(np.subtract.outer(queries[:, k], centres[:, k]))
    np.testing.assert_array_equal(_weighted_sq_dist(queries, centres, weights), expected)


def test_ard_gp_leave_one_out_matches_conditioning_without_the_point() -> None:
    x, y = _data(12, 3)
    gp = ArdGP(x, y)
    loo_mean, loo_var = gp.loo()
    std_y = (y - y.mean()) / y.std()
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        k = _kernel(np.square(x[keep][:, None] - x[keep][None]), gp._ell, gp._signal) \
            + gp._noise * np.eye(len(y) - 1)
        cross = _kernel(np.square(x[i][None, None] - x[keep][None]), gp._ell, gp._signal)[0]
        mean = cross @ np.linalg.solve(k, std_y[keep])
        var = gp._signal + gp._noise - cross @ np.linalg.solve(k, cross)
        assert loo_mean[i] == pytest.approx(y.mean() + y.std() * mean, rel=1e-6, abs=1e-8)
        assert loo_var[i] == pytest.approx(y.var() * var, rel=1e-6)


def test_fsbo_leave_one_out_matches_conditioning_without_the_point() -> None:
    surrogate = FSBOSurrogate(FSBOConfig(hidden=(16,), features=8)).initialize(3)
    x, y = _data(8, 3)
    predictor = surrogate.adapt(TaskContext(x=x, scores=y), steps=0)
    targets = predictor._y
    loo_mean, loo_var = predictor.loo()
    module = surrogate.module
    assert module is not None
    noise = float(module.scales()[2].detach())
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        with torch.no_grad():
            state = module.condition(torch.as_tensor(x[keep]), torch.as_tensor(targets[keep]))
            mean, std = module.predict(torch.as_tensor(x[i:i + 1]), state)
        assert loo_mean[i] == pytest.approx(float(mean[0]), rel=1e-5, abs=1e-6)
        assert loo_var[i] == pytest.approx(float(std[0]) ** 2 + noise, rel=1e-4)


class _Fixed:
    """A surrogate whose predictions and leave-one-out means are a given function of x."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def adapt(self, context: TaskContext) -> _Fixed:
        self._x = np.asarray(context.x)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.sign * np.sin(6.0 * x[:, 0]), np.full(len(x), 0.05)

    def loo(self) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.predict(self._x)
        return mean, std ** 2


@pytest.mark.parametrize(("sign", "surrogate_wins"), [(-1.0, False), (1.0, True)])
def test_blend_weights_follow_who_ranks_the_task_s_trials(sign: float,
                                                         surrogate_wins: bool) -> None:
    x, y = _data(30, 3)
    predictor = TargetBlend(_Fixed(sign), 3).adapt(TaskContext(x=x, scores=y))
    surrogate_weight = predictor.weights[0]
    assert (surrogate_weight > 0.6) == surrogate_wins
    assert predictor.weights.sum() == pytest.approx(1.0)
    mean, std = predictor.predict(x)
    assert np.corrcoef(mean, y)[0, 1] > 0.9 and (std > 0).all()


def test_with_too_few_trials_the_surrogate_alone_predicts() -> None:
    x, y = _data(2, 3)
    predictor = TargetBlend(_Fixed(1.0), 3).adapt(TaskContext(x=x, scores=y))
    assert predictor.target is None and predictor.weights.tolist() == [1.0, 0.0]


def test_rank_weights_prefer_the_model_that_orders_the_data() -> None:
    y = np.arange(10.0)
    good = (y + 0.1, np.full(10, 0.01))
    bad = (-y, np.full(10, 0.01))
    weights = loo_rank_weights([bad, good], y)
    assert weights.tolist() == [0.0, 1.0]


def test_rank_weight_ties_go_to_the_surrogate() -> None:
    """Two models that order the trials alike tie in every sample: the target GP (second)
    takes weight only where it orders them strictly better, not by coin flips."""
    y = np.arange(6.0)
    same = (y.copy(), np.full(6, 1e-6))
    assert loo_rank_weights([same, same], y).tolist() == [1.0, 0.0]


def test_own_gp_predicts_the_values_in_their_own_units() -> None:
    """Not in quantiles: on values with a tight cluster near the best, its posterior mean
    follows the values (an affine change of the values changes it alike, bit for bit up to
    rounding), a failed trial counts as the worst value, and it needs 3 untied values."""
    rng = np.random.default_rng(0)
    x = rng.random((24, 3))
    y = np.where(x[:, 0] > 0.5, 0.99 + 0.001 * x[:, 1], 0.5 * x[:, 0])  # a plateau near 1
    gp = own_gp(TaskContext(x=x, scores=y), 3)
    assert gp is not None
    mean, _ = gp.predict(x)
    assert np.abs(mean - y).max() < 0.05  # quantiles would put the plateau at 0.5 to 1
    scaled = own_gp(TaskContext(x=x, scores=1000.0 * y - 7.0), 3)
    assert scaled is not None
    np.testing.assert_allclose(scaled.predict(x)[0], 1000.0 * mean - 7.0, rtol=1e-6, atol=1e-3)
    failed = own_gp(TaskContext(x=x, scores=np.where(np.arange(24) == 0, np.nan, y)), 3)
    assert failed is not None
    assert failed.y[0] == failed.y.min()
    assert own_gp(TaskContext(x=x[:2], scores=y[:2]), 3) is None
    assert own_gp(TaskContext(x=x, scores=np.full(24, 0.3)), 3) is None
