"""The tabular-mlp family: its tasks, their data and meta-features, and training on CPU."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pytest
from family_helpers import run_python, task_data

from metasearch.errors import SpaceError
from metasearch.families import TaskFamily, get_family

FEW = ("iris", "wine-noise20-s1", "digits-sub300-s1", "gen-n800-d20-i6-c3-imb0.3-sep1-s4")
GOOD = {
    "lr": 1e-2,
    "weight_decay": 1e-4,
    "batch_size": 16,
    "optimizer": "adam",
    "width": 64,
    "depth": 2,
    "dropout": 0.1,
    "activation": "relu",
}
# RMSprop at the top learning rate with heavy momentum blows the logits up within two batches
# on every task and seed tried; it is inside the space, so the trial must fail, not crash.
DIVERGING = {
    **GOOD,
    "lr": 0.1,
    "optimizer": "rmsprop",
    "momentum": 0.99,
    "width": 256,
    "depth": 4,
    "dropout": 0.0,
}


@pytest.fixture(scope="module")
def family() -> TaskFamily:
    return get_family("tabular-mlp")






# -- tasks and data ------------------------------------------------------------------------


def test_family_is_registered_with_many_stable_ids(family: TaskFamily) -> None:
    ids = family.task_ids()
    assert family.name == "tabular-mlp" and family.max_budget == 20 and family.uses_torch
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)
    assert type(family)().task_ids() == ids
    assert {"iris", "wine", "breast_cancer", "digits"} <= set(ids)
    names = {p.name for p in family.space.params}
    assert {"lr", "weight_decay", "batch_size", "optimizer", "momentum"} <= names
    assert {"width", "depth", "dropout", "activation"} <= names


def test_listing_and_meta_features_do_not_import_torch(family: TaskFamily) -> None:
    code = (
        "import json, sys\n"
        "from metasearch.families import get_family\n"
        "family = get_family('tabular-mlp')\n"
        f"features = {{t: family.task(t).meta_features for t in {list(FEW)!r}}}\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'ids': family.task_ids(),\n"
        "                  'features': features}))\n"
    )
    out = run_python(code)
    assert out["torch"] is False
    # The other process saw the same tasks, with the same data behind them.
    assert out["ids"] == family.task_ids()
    for task_id in FEW:
        assert out["features"][task_id] == pytest.approx(family.task(task_id).meta_features)


def test_meta_features_are_finite_and_tell_tasks_apart(family: TaskFamily) -> None:
    features = [family.task(t).meta_features for t in FEW]
    assert all(f.keys() == features[0].keys() for f in features)
    assert all(math.isfinite(v) for f in features for v in f.values())
    for key in ("n_rows", "n_features", "n_classes", "landmark_1nn"):
        assert len({f[key] for f in features}) > 1, key


@pytest.mark.parametrize(
    "task_id", ["wine", "breast_cancer-noise30-s2", "gen-n300-d5-i3-c2-imb1-sep1-s1"]
)
def test_splits_are_disjoint_stratified_standardized_and_deterministic(
    family: TaskFamily, task_id: str
) -> None:
    data = task_data(family, task_id)
    train, valid, test = data.rows
    everything = np.concatenate([train, valid, test])
    assert len(np.unique(everything)) == len(everything)  # no row in two splits
    assert set(everything) == set(range(len(everything)))  # and none left out
    assert abs(len(train) / len(everything) - 0.6) < 0.02
    for labels in (data.y_train, data.y_valid, data.y_test):
        assert set(labels) == set(range(data.n_classes))
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-5)
    again = task_data(type(family)(), task_id)  # a fresh family: data rebuilt from the id alone
    for name in ("x_train", "y_train", "x_valid", "y_valid", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(data, name))


def test_variants_differ_from_their_base(family: TaskFamily) -> None:
    base = task_data(family, "wine")
    noisy = task_data(family, "wine-noise20-s1")
    fewer = task_data(family, "wine-feat30-s1")
    assert fewer.x_train.shape[1] < base.x_train.shape[1]
    assert noisy.x_train.shape == base.x_train.shape
    assert family.task("wine").meta_features != family.task("wine-noise20-s1").meta_features


# -- training ------------------------------------------------------------------------------


def test_a_sane_config_learns_and_reports_every_epoch(family: TaskFamily) -> None:
    task = family.task("wine")
    reports: list[tuple[int, float]] = []
    result = task.evaluate(
        GOOD, 5, device="cpu", seed=0, report=lambda s, v: reports.append((s, v))
    )
    assert result.status == "complete" and result.failure_reason is None
    assert len(result.curve) == result.budget == 5
    assert all(0.0 <= v <= 1.0 for v in result.curve)
    assert reports == list(enumerate(result.curve, start=1))
    assert result.test_value is not None and 0.0 <= result.test_value <= 1.0
    y_valid = task_data(family, "wine").y_valid
    majority = np.bincount(y_valid).max() / len(y_valid)
    assert result.curve[-1] > majority + 0.2
    assert result.device == "cpu" and result.cost_s > 0


def test_same_seed_same_curve_across_processes(family: TaskFamily) -> None:
    task = family.task("digits-sub300-s1")
    first = task.evaluate(GOOD, 3, device="cpu", seed=7)
    second = task.evaluate(GOOD, 3, device="cpu", seed=7)
    assert first.curve == second.curve and first.test_value == second.test_value
    code = (
        "import json\n"
        "from metasearch.families import get_family\n"
        "task = get_family('tabular-mlp').task('digits-sub300-s1')\n"
        f"result = task.evaluate({GOOD!r}, 3, device='cpu', seed=7)\n"
        "print(json.dumps(list(result.curve)))\n"
    )
    assert tuple(run_python(code)) == first.curve
    other = task.evaluate(GOOD, 3, device="cpu", seed=8)
    assert (other.curve, other.test_value) != (first.curve, first.test_value)


def test_a_diverging_config_fails_with_its_reason(family: TaskFamily) -> None:
    result = family.task("iris").evaluate(DIVERGING, 3, device="cpu", seed=0)
    assert result.status == "failed"
    assert result.failure_reason is not None and "diverged" in result.failure_reason
    assert result.test_value is None and len(result.curve) < 3


def test_what_report_raises_propagates(family: TaskFamily) -> None:
    class StopTrialError(Exception):
        pass

    steps: list[int] = []

    def report(step: int, value: float) -> None:
        steps.append(step)
        if step == 2:
            raise StopTrialError

    with pytest.raises(StopTrialError):
        family.task("iris").evaluate(GOOD, 4, device="cpu", seed=0, report=report)
    assert steps == [1, 2]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"lr": 10.0}, "lr"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"width": 1000}, "width"),
        ({"activation": "softmax"}, "activation"),
        ({"optimizer": "sgd", "momentum": 1.5}, "momentum"),
        ({"lr_schedule": "cosine"}, "lr_schedule"),
    ],
)
def test_a_config_outside_the_space_is_refused(
    family: TaskFamily, change: dict[str, Any], named: str
) -> None:
    with pytest.raises(SpaceError, match=named):
        family.task("iris").evaluate({**GOOD, **change}, 1, device="cpu")


def test_missing_parameters_and_budgets_beyond_the_family_are_refused(family: TaskFamily) -> None:
    without_width = {k: v for k, v in GOOD.items() if k != "width"}
    with pytest.raises(SpaceError, match="width"):
        family.task("iris").evaluate(without_width, 1, device="cpu")
    with pytest.raises(SpaceError, match="momentum"):  # sgd makes momentum required
        family.task("iris").evaluate({**GOOD, "optimizer": "sgd"}, 1, device="cpu")
    with pytest.raises(SpaceError, match="21"):
        family.task("iris").evaluate(GOOD, 21, device="cpu")


def test_the_network_has_the_configured_shape(family: TaskFamily) -> None:
    from torch import nn

    build_mlp = sys.modules[type(family).__module__].build_mlp
    model = build_mlp(7, 3, {**GOOD, "depth": 3, "width": 20, "dropout": 0.0})
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    shapes = [(m.in_features, m.out_features) for m in linears]
    assert shapes == [(7, 20), (20, 20), (20, 20), (20, 3)]
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
