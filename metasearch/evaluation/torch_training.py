"""The PyTorch training loop shared by the built-in families.

Small models on small data: mini-batches are drawn by indexing tensors already on the device
(a DataLoader's per-batch Python overhead would dominate), every random number comes from the
trial's seed, bf16 autocast runs on CUDA, and NaN, divergence and out-of-memory end the trial
as failed with the reason instead of ending the process.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from metasearch.evaluation._result import CurveRecorder, TrialFailed
from metasearch.evaluation._splits import DataSplits

__all__ = [
    "DataSplits",
    "TrainSettings",
    "evaluate_accuracy",
    "make_optimizer",
    "seed_everything",
    "train_classifier",
]

DIVERGENCE_LOSS = 1e4
"""A training loss above this (cross-entropy on a handful of classes starts near 2) is taken as
a diverged run: it will not come back, and continuing only burns the budget."""


@dataclass(frozen=True)
class TrainSettings:
    """How to train: optimizer, its hyperparameters, batch size and epochs."""

    epochs: int
    lr: float
    weight_decay: float = 0.0
    batch_size: int = 64
    optimizer: str = "adam"
    momentum: float = 0.9


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch, and return a CPU generator for the trial's own draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_optimizer(
    params: Iterator[nn.Parameter], settings: TrainSettings
) -> torch.optim.Optimizer:
    """The optimizer ``settings.optimizer`` names: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``."""
    name, lr, decay = settings.optimizer, settings.lr, settings.weight_decay
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=decay, momentum=settings.momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=decay, momentum=settings.momentum)
    raise ValueError(f"unknown optimizer {name!r}: expected adam, adamw, sgd or rmsprop")


@contextmanager
def _autocast(device: str) -> Iterator[None]:
    """bf16 autocast on CUDA (no loss scaling needed), nothing elsewhere."""
    if device.startswith("cuda"):
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: str) -> float:
    """Accuracy of ``model`` on ``(x, y)``, in evaluation mode, in batches of 1,024."""
    model.eval()
    correct = 0
    for start in range(0, len(x), 1024):
        with _autocast(device):
            logits = model(x[start : start + 1024])
        correct += int((logits.argmax(dim=1) == y[start : start + 1024]).sum())
    return correct / max(1, len(x))


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    generator: torch.Generator,
    device: str,
) -> float:
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    total, batches = 0.0, 0
    for start in range(0, len(x), settings.batch_size):
        index = order[start : start + settings.batch_size]
        with _autocast(device):
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value) or value > DIVERGENCE_LOSS:
            raise TrialFailed(f"training diverged: loss {value:.4g} at batch {batches + 1}")
        total, batches = total + value, batches + 1
    return total / max(1, batches)


def train_classifier(
    model: nn.Module,
    data: DataSplits,
    settings: TrainSettings,
    *,
    device: str,
    generator: torch.Generator,
    curve: CurveRecorder,
) -> float:
    """Train ``model`` with cross-entropy, recording validation accuracy after every epoch.

    Returns:
        Test accuracy of the final model.

    Raises:
        TrialFailed: NaN or diverging loss, or the device ran out of memory.
    """
    try:
        model = model.to(device)
        x_train, y_train, x_valid, y_valid, x_test, y_test = data.tensors(device)
        optimizer = make_optimizer(model.parameters(), settings)
        for _ in range(settings.epochs):
            _train_epoch(model, optimizer, x_train, y_train, settings, generator, device)
            curve.step(evaluate_accuracy(model, x_valid, y_valid, device))
        return evaluate_accuracy(model, x_test, y_test, device)
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        raise TrialFailed(f"out of memory on {device}: {str(exc).splitlines()[0]}") from exc
