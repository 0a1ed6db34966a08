"""CurveModel: predicts the final score from a curve's first epochs, beating the last value."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from metasearch.errors import MetasearchError
from metasearch.metamodel import MetaDataset, ModelError, TaskContext
from metasearch.metamodel._artifact import read_artifact, write_artifact
from metasearch.metamodel.curves import CurveConfig, CurveModel
from metasearch.spaces import Float, SearchSpace

TINY = CurveConfig(hidden=32, members=3, passes=60, patience=15, seed=0)
BUDGET = 20


@pytest.fixture(scope="module")
def splits(make_synthetic_dataset) -> tuple[MetaDataset, MetaDataset, MetaDataset]:  # type: ignore[no-untyped-def]
    """12 training, 3 validation and 7 held-out synthetic tasks (held-out never reach fit)."""
    data = make_synthetic_dataset(n_tasks=22, n_trials=60, seed=0)
    ids = data.task_ids
    return data.subset(ids[:12]), data.subset(ids[12:15]), data.subset(ids[15:])


@pytest.fixture(scope="module")
def fitted(splits: tuple[MetaDataset, MetaDataset, MetaDataset]) -> CurveModel:
    train, validation, _ = splits
    model = CurveModel(TINY)
    model.fit(train, validation)
    return model


class Queries(NamedTuple):
    """A held-out task's finished trials (after its first 10) cut after ``k`` epochs."""

    prefixes: np.ndarray
    x: np.ndarray
    finals: np.ndarray
    context: TaskContext
    support_curves: np.ndarray
    full: np.ndarray


def _queries(data: MetaDataset, k: int) -> Queries:
    """Queries on the first task of ``data``, its first 10 trials as the support set."""
    task = next(iter(data.tasks.values()))
    rest = np.flatnonzero(np.isfinite(task.scores))
    rest = rest[rest >= 10]
    prefixes = np.where(np.arange(BUDGET) < k, task.curves[rest], np.nan)
    context = TaskContext(task.meta_features, task.x[:10], task.scores[:10])
    return Queries(prefixes, task.x[rest], task.scores[rest], context, task.curves[:10],
                   task.curves[rest])


def test_beats_the_last_value_on_held_out_tasks(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    figures = fitted.evaluate(splits[2])
    assert figures["mae_after_3"] < 0.6 * figures["last_value_mae_after_3"], figures
    for k in (1, 5):
        assert figures[f"mae_after_{k}"] < 0.8 * figures[f"last_value_mae_after_{k}"], figures
    assert figures["coverage_2std_after_3"] > 0.7, figures


def test_fit_report_has_train_validation_and_baseline(
    splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    train, validation, _ = splits
    report = CurveModel(dataclasses.replace(TINY, passes=3)).fit(train, validation)
    for part in (report.train, report.validation):
        assert {f"{p}_after_{k}" for p in ("mae", "last_value_mae") for k in (1, 3, 5)} <= set(
            part)
    assert report.epochs is not None and 1 <= report.epochs <= 3
    assert report.seconds > 0
    json.dumps(report.to_dict())


def test_prob_better_is_monotone_and_never_certain(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    prefixes, x, _, context, _, _ = _queries(splits[2], 3)
    probs = np.stack([fitted.prob_better(prefixes, x, t, context)
                      for t in np.linspace(-5.0, 5.0, 41)])
    assert ((probs > 0) & (probs < 1)).all()
    assert (np.diff(probs, axis=0) <= 0).all()
    per_row = fitted.prob_better(prefixes, x, np.full(len(x), 0.5), context)
    np.testing.assert_array_equal(per_row, probs[22])  # threshold 0.5


def test_nan_after_the_prefix_is_ignored_and_holes_are_filled(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    prefixes, x, _, context, curves, _ = _queries(splits[2], 5)
    mean, std = fitted.predict(prefixes, x, context, curves)
    narrow = fitted.predict(prefixes[:, :5], x, context, curves)
    np.testing.assert_array_equal(mean, narrow[0])
    np.testing.assert_array_equal(std, narrow[1])
    holed = prefixes.copy()
    holed[:, 2] = np.nan
    filled = prefixes.copy()
    filled[:, 2] = filled[:, 1]
    np.testing.assert_array_equal(fitted.predict(holed, x, context, curves)[0],
                                  fitted.predict(filled, x, context, curves)[0])


def test_no_epochs_and_full_curves_are_sensible(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    prefixes, x, finals, context, curves, full = _queries(splits[2], 5)
    empty = np.full_like(prefixes, np.nan)
    mean0, std0 = fitted.predict(empty, x, context, curves)
    mean5, std5 = fitted.predict(prefixes, x, context, curves)
    assert np.isfinite(mean0).all() and std0.mean() > std5.mean()
    assert np.abs(mean5 - finals).mean() < np.abs(mean0 - finals).mean()
    mean, std = fitted.predict(full, x, context, curves)
    np.testing.assert_array_equal(mean, full[:, -1])
    assert (std > 0).all()
    probs = fitted.prob_better(full, x, full[:, -1] - 1e-9, context, curves)
    assert (probs < 1).all() and (probs > 0.5).all()


def test_works_without_context_or_support_curves(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    prefixes, x, finals, context, _, _ = _queries(splits[2], 3)
    for ctx in (None, TaskContext(), context, dataclasses.replace(context, meta_features=None)):
        mean, std = fitted.predict(prefixes, x, ctx)
        assert np.isfinite(mean).all() and (std > 0).all()
        assert np.abs(mean - finals).mean() < np.abs(prefixes[:, 2] - finals).mean()


def _with_failures(data: MetaDataset) -> MetaDataset:
    """``data`` plus an all-failed task, short finished curves, and a hole in one curve."""
    tasks = dict(data.tasks)
    first = tasks[data.task_ids[0]]
    curves = first.curves.copy()
    curves[:5, 4:] = np.nan  # finished, but reported only 4 epochs
    curves[6, 2] = np.nan
    tasks[first.task] = dataclasses.replace(first, curves=curves)
    failed = np.full_like(first.curves, np.nan)
    failed[:, 0] = 1e6  # a diverged first epoch that never finished
    tasks["all-failed"] = dataclasses.replace(first, task="all-failed", curves=failed,
                                              scores=np.full(first.n_trials, np.nan))
    return dataclasses.replace(data, tasks=tasks)


def test_failed_and_short_curves_do_not_poison_training(
    splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    train, validation, held_out = splits
    model = CurveModel(dataclasses.replace(TINY, passes=5))
    model.fit(_with_failures(train), _with_failures(validation))
    assert all(np.isfinite(a).all() for a in model.arrays().values())
    prefixes, x, _, context, curves, _ = _queries(held_out, 3)
    assert np.isfinite(model.predict(prefixes, x, context, curves)[0]).all()
    figures = model.evaluate(held_out)
    assert figures["mae_after_3"] < 0.8 * figures["last_value_mae_after_3"], figures


def test_a_seed_reproduces_the_fit(splits: tuple[MetaDataset, MetaDataset, MetaDataset]) -> None:
    small = splits[0].subset(splits[0].task_ids[:4])
    config = dataclasses.replace(TINY, passes=4)
    first, again = CurveModel(config), CurveModel(config)
    first.fit(small)
    again.fit(small)
    other = CurveModel(dataclasses.replace(config, seed=1))
    other.fit(small)
    for name, value in first.arrays().items():
        np.testing.assert_array_equal(value, again.arrays()[name])
    assert not np.array_equal(first.arrays()["w0"], other.arrays()["w0"])


def test_restore_round_trips_through_the_artifact(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset], tmp_path: Path
) -> None:
    settings = json.loads(json.dumps(fitted.settings()))
    write_artifact(tmp_path / "m", {"curves": settings},
                   {f"curves/{k}": v for k, v in fitted.arrays().items()})
    stored = read_artifact(tmp_path / "m")
    restored = CurveModel.restore(stored.metadata["curves"], stored.component_arrays("curves"),
                                  splits[0].space)
    prefixes, x, _, context, curves, _ = _queries(splits[2], 3)
    for a, b in zip(fitted.predict(prefixes, x, context, curves),
                    restored.predict(prefixes, x, context, curves), strict=True):
        np.testing.assert_array_equal(a, b)


def test_restore_refuses_foreign_or_broken_state(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    settings, arrays, space = fitted.settings(), fitted.arrays(), splits[0].space
    with pytest.raises(ModelError, match="encodes 39 numbers per configuration, this space 1"):
        CurveModel.restore(settings, arrays, SearchSpace(params=(Float("x", 0.0, 1.0),)))
    with pytest.raises(ModelError, match="feature_std"):
        CurveModel.restore(settings, {k: v for k, v in arrays.items() if k != "feature_std"},
                           space)
    with pytest.raises(ModelError, match="unknown format"):
        CurveModel.restore({**settings, "format": 99}, arrays, space)


def test_bad_input_is_one_clear_error(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    prefixes, x, _, context, curves, _ = _queries(splits[2], 3)
    with pytest.raises(MetasearchError, match=r"prefixes must be \(m, <= 20\)"):
        fitted.predict(np.zeros((2, 21)), x[:2])
    with pytest.raises(MetasearchError, match="x must be finite with shape"):
        fitted.predict(prefixes, x[:, :5])
    with pytest.raises(MetasearchError, match="support_curves has 3 rows"):
        fitted.predict(prefixes, x, context, curves[:3])
    with pytest.raises(MetasearchError, match=r"support_curves must be \(m, <= 20\)"):
        fitted.predict(prefixes, x, context, np.zeros((10, 21)))
    with pytest.raises(MetasearchError, match="threshold must be a number or have shape"):
        fitted.prob_better(prefixes, x, np.zeros(2), context)
    with pytest.raises(MetasearchError, match="missing"):
        fitted.predict(prefixes, x, TaskContext(meta_features={"n_classes": 3.0}))
    with pytest.raises(MetasearchError, match="threshold must be finite"):
        fitted.prob_better(prefixes, x, float("nan"))
    with pytest.raises(MetasearchError, match="not fitted"):
        CurveModel().predict(prefixes, x)
    with pytest.raises(MetasearchError, match="members must be >= 1"):
        CurveConfig(members=0)


def test_prediction_needs_neither_torch_nor_fitting(fitted: CurveModel, tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps(fitted.settings()))
    for name, value in fitted.arrays().items():
        np.save(tmp_path / f"{name}.npy", value)
    script = (
        "import json, sys, numpy as np\n"
        "from pathlib import Path\n"
        "from metasearch.metamodel.curves import CurveModel\n"
        f"d = {str(tmp_path)!r}\n"
        "arrays = {p.stem: np.load(p) for p in Path(d).glob('*.npy')}\n"
        "model = CurveModel.restore(json.load(open(d + '/settings.json')), arrays, None)\n"
        "x = np.zeros((1, model.settings()['n_x']))\n"
        "mean, std = model.predict(np.array([[0.3, 0.4, 0.5]]), x)\n"
        "assert np.isfinite(mean).all() and (std > 0).all()\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parents[2])
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.gpu
def test_fits_on_cuda(splits: tuple[MetaDataset, MetaDataset, MetaDataset]) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    train, validation, _ = splits
    model = CurveModel(dataclasses.replace(TINY, passes=20), device="cuda")
    report = model.fit(train, validation)
    assert report.validation["mae_after_3"] < report.validation["last_value_mae_after_3"]


@pytest.mark.parametrize("steps", [2, 3, 5])
def test_curves_shorter_than_the_report_epochs_fit_and_evaluate(
        splits: tuple[MetaDataset, MetaDataset, MetaDataset], steps: int) -> None:
    """A study reporting 2 to 5 steps trains a curve model (it raised on epoch 5 or 3)."""
    def cut(data: MetaDataset) -> MetaDataset:
        tasks = {tid: dataclasses.replace(h, curves=h.curves[:, :steps],
                                          scores=h.curves[:, steps - 1].copy())
                 for tid, h in data.tasks.items()}
        return dataclasses.replace(data, max_budget=steps, tasks=tasks)

    train, validation, _ = splits
    model = CurveModel(dataclasses.replace(TINY, passes=5, patience=5))
    report = model.fit(cut(train), cut(validation))
    assert {f"mae_after_{k}" for k in (1, 3, 5) if k < steps} <= set(report.train)
    assert not any(key.endswith(f"_after_{steps}") for key in report.train)
    mean, std = model.predict(np.full((2, steps), np.nan), next(iter(train.tasks.values())).x[:2])
    assert np.isfinite(mean).all() and (std > 0).all()


def test_support_predictions_leave_each_trial_out(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    _, _, _, context, curves, _ = _queries(splits[2], 3)
    mean, std, truth = fitted._fitted.predict_support(context.x, context, curves, 3)
    finished = np.isfinite(context.scores)
    assert 0 < finished.sum() < len(finished)  # failed trials get no prediction
    np.testing.assert_array_equal(np.isfinite(mean), finished)
    assert (std[finished] > 0).all()
    np.testing.assert_array_equal(truth, context.scores)
    first = int(np.flatnonzero(finished)[0])
    moved = dataclasses.replace(context, scores=context.scores + np.eye(len(truth))[first])
    again, _, _ = fitted._fitted.predict_support(context.x, moved, curves, 3)
    assert again[first] == mean[first]  # its own final is not its support
    others = finished & (np.arange(len(truth)) != first)
    assert not np.allclose(again[others], mean[others])  # but it is the others'


def test_recalibrate_shifts_where_finals_beat_the_curves(
    fitted: CurveModel, splits: tuple[MetaDataset, MetaDataset, MetaDataset]
) -> None:
    """Finals raised above where the curves point: the model underpredicts them, so the
    correction shifts up; on the task as it is the correction is much smaller."""
    _, _, _, context, curves, _ = _queries(splits[2], 3)
    plain = fitted.recalibrate(context.x, context, curves, 3, prior_count=3.0)
    spread = float(np.nanstd(context.scores))
    raised = dataclasses.replace(context, scores=context.scores + 3 * spread)
    late = curves.copy()
    late[:, -1] += 3 * spread  # the curves' last point is the final: raise it with it
    bloom = fitted.recalibrate(context.x, raised, late, 3, prior_count=3.0)
    assert bloom.n == plain.n == np.isfinite(context.scores).sum()
    assert bloom.shift > plain.shift + 1.0
    best = float(np.nanmax(raised.scores))
    probs = [fitted.prob_better(late[:, :3], context.x, best, raised, late, fix)
             for fix in (None, bloom)]
    assert (probs[1] >= probs[0]).all() and (probs[1] > probs[0]).mean() > 0.5
