"""Transfer surrogates on the synthetic family: they must learn, and keep their contracts.

The two learning tests would fail if meta-learning did nothing: on tasks never seen in fit,
after 5 support trials, the meta-trained deep-kernel GP must rank the other trials far better
than the same network without meta-training, and the RGPE ensemble far better than a plain GP
on the 5 trials. Everything else checks the interface the sampler relies on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from metasearch.errors import MetasearchError
from metasearch.metamodel import MetaDataset, TaskContext
from metasearch.metamodel._artifact import read_artifact, write_artifact
from metasearch.metamodel._features import EncodingLayout
from metasearch.metamodel.surrogates import (
    FSBOConfig,
    FSBOSurrogate,
    RGPESurrogate,
    quantile_normalize,
    support_spearman,
)
from metasearch.metamodel.surrogates._common import check_context, spread
from metasearch.metamodel.surrogates._gp import GaussianProcess
from metasearch.metamodel.surrogates._rgpe import ranking_losses

N_TRAIN, N_VALID, N_TEST = 16, 4, 8
SMALL = FSBOConfig(hidden=(32, 32), features=16, max_steps=600, eval_every=50, patience=4)


@pytest.fixture(scope="module")
def splits(make_synthetic_dataset) -> tuple[MetaDataset, MetaDataset, MetaDataset]:  # type: ignore[no-untyped-def]
    """Train, validation and held-out test tasks (disjoint), 80 trials each."""
    data = make_synthetic_dataset(N_TRAIN + N_VALID + N_TEST, 80)
    ids = data.task_ids
    return (data.subset(ids[:N_TRAIN]), data.subset(ids[N_TRAIN:N_TRAIN + N_VALID]),
            data.subset(ids[N_TRAIN + N_VALID:]))


@pytest.fixture(scope="module")
def fsbo(splits: tuple[MetaDataset, ...]) -> FSBOSurrogate:
    model = FSBOSurrogate(SMALL)
    model.fit(splits[0], splits[1])
    return model


@pytest.fixture(scope="module")
def rgpe(splits: tuple[MetaDataset, ...]) -> RGPESurrogate:
    model = RGPESurrogate(max_trials=80, n_samples=128)
    model.fit(splits[0], splits[1])
    return model


def _context(data: MetaDataset, task: str, rows: slice | list[int]) -> TaskContext:
    history = data.tasks[task]
    return TaskContext(history.meta_features, history.x[rows], history.scores[rows])


class _PlainGP:
    """The cold-start reference: an ML-II GP on the support trials alone."""

    def __init__(self, data: MetaDataset) -> None:
        self.scale = EncodingLayout.of(data.space).distance_scale()

    def adapt(self, context: TaskContext) -> _PlainGP._Fitted:
        x, y = check_context(context, len(self.scale))
        return self._Fitted(GaussianProcess(x * self.scale, y), self.scale)

    class _Fitted:
        def __init__(self, gp: GaussianProcess, scale: np.ndarray) -> None:
            self.gp, self.scale = gp, scale

        def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self.gp.predict(x * self.scale)


# -- learning ----------------------------------------------------------------------------


def _untrained_spearman(test: MetaDataset, config: FSBOConfig) -> np.ndarray:
    """Per-task Spearman of the network ``config`` makes, with its initial (seeded) weights.

    The same model as the meta-trained one, weights and all, before meta-training: adapted by
    conditioning only (as the meta-trained one) and, its best chance, also after fine-tuning
    on the support set's likelihood; the better of the two counts. (Comparing with other
    random inits would not do: their spread, about 0.1, is the size of a few training steps.)
    """
    variants = []
    for steps, last in ((0, False), (30, True)):
        settings = {**config.to_json(), "adapt_steps": steps, "adapt_last_layer": last}
        untrained = FSBOSurrogate(FSBOConfig(**settings)).initialize(test.space.encoding_length)
        variants.append(support_spearman(untrained, test, n_support=5, n_draws=4, seed=1)[1])
    return np.asarray(max(variants, key=np.mean))


def test_meta_trained_fsbo_beats_the_untrained_model_on_held_out_tasks(
        fsbo: FSBOSurrogate, splits: tuple[MetaDataset, ...]) -> None:
    test = splits[2]
    _, meta = support_spearman(fsbo, test, n_support=5, n_draws=4, seed=1)
    untrained = _untrained_spearman(test, fsbo.config)
    gain = np.asarray(meta) - untrained
    message = f"meta-trained {spread(meta)} vs untrained {spread(untrained.tolist())}"
    assert gain.mean() > 0.15, message
    assert (gain > 0).sum() >= len(gain) - 1, message


def test_rgpe_beats_a_plain_gp_on_the_support_trials(
        rgpe: RGPESurrogate, splits: tuple[MetaDataset, ...]) -> None:
    test = splits[2]
    _, ensemble = support_spearman(rgpe, test, n_support=5, n_draws=4, seed=1)
    _, plain = support_spearman(_PlainGP(test), test, n_support=5, n_draws=4, seed=1)
    gain = np.asarray(ensemble) - np.asarray(plain)
    message = f"RGPE {spread(ensemble)} vs plain GP {spread(plain)}"
    assert gain.mean() > 0.15, message
    assert (gain > 0).sum() >= len(gain) - 1, message


def test_fit_reports_give_train_and_validation_figures(splits: tuple[MetaDataset, ...]
                                                        ) -> None:
    train = splits[0].subset(splits[0].task_ids[:6])
    config = FSBOConfig(**{**SMALL.to_json(), "max_steps": 100})
    fsbo, rgpe = FSBOSurrogate(config), RGPESurrogate(max_trials=40, n_samples=64)
    for model in (fsbo, rgpe):
        report = model.fit(train, splits[1])
        assert set(report.train) == set(report.validation) == {"spearman_at_5"}
        assert all(-1 <= v <= 1 for v in [*report.train.values(), *report.validation.values()])
        assert report.seconds > 0
    assert fsbo.history and fsbo.history[0][0] == config.eval_every
    assert fsbo.fit(train).validation == {}


def test_early_stopping_keeps_the_best_validated_weights(splits: tuple[MetaDataset, ...]
                                                         ) -> None:
    config = FSBOConfig(**{**SMALL.to_json(), "max_steps": 200, "patience": 100})
    model = FSBOSurrogate(config)
    model.fit(splits[0].subset(splits[0].task_ids[:6]), splits[1])
    best = max(score for _, score in model.history)
    again = support_spearman(model, splits[1], seed=config.seed)[0]
    assert again == pytest.approx(best)


# -- the predictor contract ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["fsbo", "rgpe"])
@pytest.mark.parametrize("n_support", [0, 1, 2, 5])
def test_predict_returns_a_mean_and_a_positive_std_per_row(
        name: str, n_support: int, request: pytest.FixtureRequest,
        splits: tuple[MetaDataset, ...]) -> None:
    model = request.getfixturevalue(name)
    test = splits[2]
    task = test.task_ids[0]
    mean, std = model.adapt(_context(test, task, slice(0, n_support))).predict(
        test.tasks[task].x[10:30])
    assert mean.shape == std.shape == (20,)
    assert np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()


def test_without_support_fsbo_gives_its_meta_trained_prior(
        fsbo: FSBOSurrogate, splits: tuple[MetaDataset, ...]) -> None:
    history = splits[2].tasks[splits[2].task_ids[0]]
    mean, std = fsbo.adapt(TaskContext()).predict(history.x)
    assert np.ptp(std) == 0  # a stationary kernel: the same prior variance everywhere
    assert np.ptp(mean) > 0  # the learned mean already ranks configurations
    _, outputscale, _ = fsbo.module.scales()  # type: ignore[union-attr]
    assert std[0] == pytest.approx(float(outputscale.detach()) ** 0.5)


def test_without_ranking_evidence_rgpe_weighs_base_tasks_uniformly(
        rgpe: RGPESurrogate, splits: tuple[MetaDataset, ...]) -> None:
    test = splits[2]
    for n_support in (0, 1):
        weights = rgpe.adapt(_context(test, test.task_ids[0], slice(0, n_support))).weights
        assert weights[-1] == 0
        np.testing.assert_allclose(weights[:-1], 1.0 / N_TRAIN)
    weights = rgpe.adapt(_context(test, test.task_ids[0], slice(0, 10))).weights
    assert weights.sum() == pytest.approx(1.0) and np.ptp(weights) > 0


def test_rgpe_puts_weight_on_the_task_the_support_set_comes_from(
        rgpe: RGPESurrogate, splits: tuple[MetaDataset, ...]) -> None:
    train = splits[0]
    task = train.task_ids[3]
    weights = rgpe.adapt(_context(train, task, slice(0, 15))).weights
    assert int(np.argmax(weights)) == train.task_ids.index(task), weights


@pytest.mark.parametrize("name", ["fsbo", "rgpe"])
def test_failed_support_trials_count_as_the_worst(
        name: str, request: pytest.FixtureRequest, splits: tuple[MetaDataset, ...]) -> None:
    model = request.getfixturevalue(name)
    history = splits[2].tasks[splits[2].task_ids[1]]
    x, scores = history.x[:6], history.filled_scores()[:6].copy()
    failed = scores.copy()
    failed[[1, 4]] = np.nan
    worst = np.where(np.isnan(failed), np.nanmin(failed), failed)
    queries = history.x[20:40]
    with_nan = model.adapt(TaskContext(None, x, failed)).predict(queries)
    as_worst = model.adapt(TaskContext(None, x, worst)).predict(queries)
    np.testing.assert_array_equal(with_nan[0], as_worst[0])
    all_failed = model.adapt(TaskContext(None, x, np.full(6, np.nan))).predict(queries)
    assert np.isfinite(all_failed[0]).all() and (all_failed[1] > 0).all()


def test_quantile_normalize_ties_failures_at_the_bottom() -> None:
    # Failures tie with the worst finite score (as TaskHistory.filled_scores): mean rank 2 of 5.
    q = quantile_normalize(np.array([0.3, np.nan, 0.9, 0.1, np.nan]))
    np.testing.assert_allclose(q, [0.7, 0.3, 0.9, 0.3, 0.3])
    assert quantile_normalize(np.zeros(0)).shape == (0,)


def test_ranking_losses_count_misordered_pairs_only_where_scores_differ() -> None:
    y = np.array([0.1, 0.5, 0.9, 0.9])
    perfect, reversed_, tied = y, -y, np.zeros(4)
    losses = ranking_losses(np.stack([perfect, reversed_, tied]), y)
    np.testing.assert_allclose(losses, [0.0, 5.0, 2.5])  # 5 informative pairs


@pytest.mark.parametrize("tie", [False, True])
def test_ranking_losses_match_counting_pair_by_pair(tie: bool) -> None:
    """The masked count equals a plain loop over pairs, with and without a sampled tie (the
    count looks for level pairs only when some sample has one)."""
    rng = np.random.default_rng(0)
    y = np.round(rng.random(12), 1)  # some observed ties
    samples = rng.standard_normal((5, 12))
    if tie:
        samples[2, 3] = samples[2, 7]
    expected = [sum((s[i] > s[j]) + 0.5 * (s[i] == s[j])
                    for i in range(12) for j in range(12) if y[i] < y[j]) for s in samples]
    np.testing.assert_array_equal(ranking_losses(samples, y), expected)


# -- reproducibility and persistence -------------------------------------------------------


def _tiny_fsbo(seed: int) -> FSBOConfig:
    return FSBOConfig(**{**SMALL.to_json(), "max_steps": 60, "seed": seed})


def test_the_same_seed_gives_the_same_models(splits: tuple[MetaDataset, ...]) -> None:
    train = splits[0].subset(splits[0].task_ids[:5])
    fsbo = [FSBOSurrogate(_tiny_fsbo(seed)) for seed in (3, 3, 4)]
    rgpe = [RGPESurrogate(max_trials=40, n_samples=64, seed=seed) for seed in (3, 3, 4)]
    groups: tuple[list[Any], ...] = (fsbo, rgpe)
    for models in groups:
        for model in models:
            model.fit(train)
        first, again, other = (m.arrays() for m in models)
        assert all(np.array_equal(first[k], again[k]) for k in first)
        assert not all(np.array_equal(first[k], other[k]) for k in first)
        contexts = [_context(splits[2], splits[2].task_ids[0], slice(0, 5))] * 2
        means = [m.adapt(c).predict(splits[2].tasks[splits[2].task_ids[0]].x)[0]
                 for m, c in zip(models[:2], contexts, strict=True)]
        np.testing.assert_array_equal(*means)


@pytest.mark.parametrize("name", ["fsbo", "rgpe"])
def test_restore_from_an_artifact_predicts_identically(
        name: str, request: pytest.FixtureRequest, splits: tuple[MetaDataset, ...],
        tmp_path: Path) -> None:
    model = request.getfixturevalue(name)
    settings = json.loads(json.dumps(model.settings()))
    write_artifact(tmp_path / "model", {"settings": settings},
                   {f"{model.kind}/{k}": v for k, v in model.arrays().items()})
    stored = read_artifact(tmp_path / "model")
    restored = type(model).restore(stored.metadata["settings"],
                                   stored.component_arrays(model.kind), splits[0].space)
    test = splits[2]
    queries = test.tasks[test.task_ids[2]].x
    for n_support in (0, 5):
        context = _context(test, test.task_ids[2], slice(0, n_support))
        for a, b in zip(model.adapt(context).predict(queries),
                        restored.adapt(context).predict(queries), strict=True):
            np.testing.assert_array_equal(a, b)


def test_adapting_never_changes_the_meta_trained_weights_nor_torch_threads(
        fsbo: FSBOSurrogate, splits: tuple[MetaDataset, ...]) -> None:
    before, threads = fsbo.arrays(), torch.get_num_threads()
    fsbo.adapt(_context(splits[2], splits[2].task_ids[0], slice(0, 8)), steps=20)
    after = fsbo.arrays()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert torch.get_num_threads() == threads


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fsbo", "rgpe"])
def test_bad_shapes_are_one_clear_error(name: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(name)
    with pytest.raises(MetasearchError, match="shape"):
        model.adapt(TaskContext()).predict(np.zeros((3, 5)))
    with pytest.raises(MetasearchError, match="2 encodings but 3 scores"):
        model.adapt(TaskContext(None, np.zeros((2, model.dim)), np.zeros(3)))
    with pytest.raises(MetasearchError, match="NaN or inf"):
        model.adapt(TaskContext()).predict(np.full((1, model.dim), np.nan))


def test_unfitted_models_and_bad_settings_are_refused() -> None:
    with pytest.raises(MetasearchError, match="no weights"):
        FSBOSurrogate().adapt(TaskContext())
    with pytest.raises(MetasearchError, match="not fitted"):
        RGPESurrogate().adapt(TaskContext())
    with pytest.raises(MetasearchError, match="kernel 'cosine'"):
        FSBOConfig(kernel="cosine")
    with pytest.raises(MetasearchError, match="batch_size"):
        FSBOConfig(batch_size=0)
    with pytest.raises(MetasearchError, match="n_samples"):
        RGPESurrogate(n_samples=0)


def test_restore_refuses_weights_of_another_architecture(fsbo: FSBOSurrogate) -> None:
    settings = {**fsbo.settings(), "features": 8}
    with pytest.raises(MetasearchError, match="architecture"):
        FSBOSurrogate.restore(settings, fsbo.arrays(), None)


# -- imports and devices -------------------------------------------------------------------


def test_importing_the_package_does_not_import_torch() -> None:
    code = ("import sys, metasearch.metamodel.surrogates as s; "
            "assert 'torch' not in sys.modules, 'torch imported'; s.RGPESurrogate; "
            "assert 'torch' not in sys.modules, 'torch imported by RGPE'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fsbo_trains_and_predicts_on_cuda(splits: tuple[MetaDataset, ...]) -> None:
    train = splits[0].subset(splits[0].task_ids[:5])
    cpu, gpu = FSBOSurrogate(_tiny_fsbo(0)), FSBOSurrogate(_tiny_fsbo(0), device="cuda")
    cpu.fit(train)
    gpu.fit(train)
    assert next(gpu.module.parameters()).is_cuda  # type: ignore[union-attr]
    context = _context(splits[2], splits[2].task_ids[0], slice(0, 5))
    queries = splits[2].tasks[splits[2].task_ids[0]].x
    np.testing.assert_allclose(gpu.adapt(context).predict(queries)[0],
                               cpu.adapt(context).predict(queries)[0], atol=1e-3)
