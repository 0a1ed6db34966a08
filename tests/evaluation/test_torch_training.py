"""The shared PyTorch loop: it learns, it repeats itself, and it fails a trial, not the process."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from metasearch.evaluation import CurveRecorder, TrialFailed
from metasearch.evaluation.torch_training import (
    DataSplits,
    TrainSettings,
    seed_everything,
    train_classifier,
)


def _blobs(seed: int = 0) -> DataSplits:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(3, 5))
    y = rng.integers(0, 3, size=600)
    x = centers[y] + rng.normal(size=(600, 5))
    return DataSplits(x[:400], y[:400], x[400:500], y[400:500], x[500:], y[500:])


def _train(settings: TrainSettings, seed: int = 0) -> tuple[list[float], float]:
    generator = seed_everything(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    curve = CurveRecorder()
    test = train_classifier(model, _blobs(), settings, device="cpu", generator=generator,
                            curve=curve)
    return curve.values, test


def test_learns_separable_blobs() -> None:
    values, test = _train(TrainSettings(epochs=5, lr=0.01, batch_size=32))
    assert len(values) == 5 and values[-1] > 0.9 and test > 0.9


def test_same_seed_same_curve_on_cpu() -> None:
    settings = TrainSettings(epochs=3, lr=0.05, batch_size=16, optimizer="sgd")
    assert _train(settings, seed=3) == _train(settings, seed=3)
    assert _train(settings, seed=3)[0] != _train(settings, seed=4)[0]


def test_divergence_fails_the_trial_with_its_reason() -> None:
    with pytest.raises(TrialFailed, match="diverged"):
        _train(TrainSettings(epochs=3, lr=1e6, batch_size=16, optimizer="sgd", momentum=0.99))


def test_non_finite_metric_fails_the_trial() -> None:
    curve = CurveRecorder()
    curve.step(0.5)
    with pytest.raises(TrialFailed, match="nan at epoch 2"):
        curve.step(float("nan"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda_with_autocast() -> None:
    generator = seed_everything(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    curve = CurveRecorder()
    test = train_classifier(model, _blobs(), TrainSettings(epochs=3, lr=0.01), device="cuda",
                            generator=generator, curve=curve)
    assert test > 0.8
