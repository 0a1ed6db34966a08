"""The synthetic family: related tasks, known optima, curve-shaped outputs, failures."""

from __future__ import annotations

import numpy as np
import pytest

from metasearch.errors import SpaceError, UnknownTaskError
from metasearch.families import get_family


@pytest.fixture(scope="module")
def family():  # type: ignore[no-untyped-def]
    return get_family("synthetic")


def test_tasks_are_many_and_stable(family) -> None:  # type: ignore[no-untyped-def]
    ids = family.task_ids()
    assert len(ids) == len(set(ids)) >= 30
    assert ids == get_family("synthetic").task_ids()


def test_unknown_task_names_the_valid_ones(family) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownTaskError, match=r"'nope'.*synthetic-00"):
        family.task("nope")


def test_optimum_beats_every_sampled_configuration(family) -> None:  # type: ignore[no-untyped-def]
    task = family.task("synthetic-03")
    best_config, best = task.optimum()
    rng = np.random.default_rng(0)
    sampled = [task.final_value(family.space.sample(rng)) for _ in range(300)]
    assert max(sampled) < best <= 1.0
    assert task.final_value(best_config) == pytest.approx(best)


def test_curve_rises_and_ends_near_the_final_value(family) -> None:  # type: ignore[no-untyped-def]
    task = family.task("synthetic-05")
    config, best = task.optimum()
    result = task.evaluate(config, device="cpu", seed=1)
    assert result.status == "complete" and len(result.curve) == family.max_budget
    assert result.curve[0] < result.curve[-1]
    assert abs(result.final_value - best) < 0.03
    assert result.device == "cpu" and result.cost_s >= 0


def test_seeded_results_repeat_and_differ_by_seed(family) -> None:  # type: ignore[no-untyped-def]
    task = family.task("synthetic-01")
    config = family.space.sample(np.random.default_rng(3))
    first = task.evaluate(config, 8, device="cpu", seed=4)
    assert task.evaluate(config, 8, device="cpu", seed=4).curve == first.curve
    assert task.evaluate(config, 8, device="cpu", seed=5).curve != first.curve


def test_tasks_are_related_but_not_identical(family) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    configs = [family.space.sample(rng) for _ in range(200)]
    a = [family.task("synthetic-00").final_value(c) for c in configs]
    b = [family.task("synthetic-01").final_value(c) for c in configs]
    rho = np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1]
    assert 0.2 < rho < 0.99


def test_meta_features_carry_signal_about_the_optimum(family) -> None:  # type: ignore[no-untyped-def]
    tasks = list(family.tasks())
    rows = np.array([t.meta_features["log_rows"] for t in tasks])
    lr_opt = np.array([t.lr_opt for t in tasks])
    assert np.corrcoef(rows, lr_opt)[0, 1] > 0.7


def test_far_too_large_learning_rate_fails_with_reason(family) -> None:  # type: ignore[no-untyped-def]
    task = min(family.tasks(), key=lambda t: t.lr_opt)
    config, _ = task.optimum()
    config = {**config, "optimizer": "adam", "lr": 1.0}
    config.pop("momentum", None)
    result = task.evaluate(config, device="cpu")
    assert result.status == "failed" and "diverged" in (result.failure_reason or "")
    assert len(result.curve) == 1 and result.test_value is None


def test_report_sees_every_epoch_and_can_stop_the_trial(family) -> None:  # type: ignore[no-untyped-def]
    task = family.task("synthetic-00")
    config = family.space.sample(np.random.default_rng(0))
    seen: list[tuple[int, float]] = []

    class StopError(Exception):
        pass

    def report(step: int, value: float) -> None:
        seen.append((step, value))
        if step == 3:
            raise StopError

    with pytest.raises(StopError):
        task.evaluate(config, device="cpu", report=report)
    assert [s for s, _ in seen] == [1, 2, 3]


def test_bad_budget_and_config_are_refused(family) -> None:  # type: ignore[no-untyped-def]
    task = family.task("synthetic-00")
    config = family.space.sample(np.random.default_rng(0))
    with pytest.raises(SpaceError, match="exceeds"):
        task.evaluate(config, family.max_budget + 1)
    with pytest.raises(SpaceError, match="budget=0"):
        task.evaluate(config, 0)
    with pytest.raises(SpaceError, match="lr="):
        task.evaluate({**config, "lr": 3.0})
