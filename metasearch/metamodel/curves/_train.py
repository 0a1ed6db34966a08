"""Training the ensemble with PyTorch (imported only when a model is fitted).

All members are one batched network (weights stacked over members, ``torch.bmm``), so an
ensemble of five costs about as much as one network on a CPU. Each member sees its own
shuffle of every pass's samples and its own initialisation, the two sources of diversity deep
ensembles rely on; each minimises the Gaussian negative log-likelihood of the normalised gain.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from metasearch.metamodel.curves._ensemble import MIN_SIGMA

__all__ = ["Batch", "TrainPlan", "train_ensemble"]


@dataclass(frozen=True)
class Batch:
    """Standardised inputs ``(r, f)`` and normalised targets ``(r,)`` (numpy)."""

    inputs: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class TrainPlan:
    """How to train: sizes, optimiser, passes, early stopping, device and seed."""

    hidden: int
    layers: int
    members: int
    passes: int
    patience: int
    batch_size: int
    lr: float
    weight_decay: float
    device: str
    seed: int
    threads: int = 1


class _Ensemble(torch.nn.Module):
    """``members`` MLPs with SiLU hidden layers and a (mean, softplus std) head."""

    def __init__(self, n_in: int, plan: TrainPlan, generator: torch.Generator) -> None:
        super().__init__()
        sizes = [n_in] + [plan.hidden] * plan.layers + [2]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)  # PyTorch's default Linear initialisation
            w = (torch.rand(plan.members, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(plan.members, fan_out, generator=generator) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(b))

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs``: ``(members, r, f)``; returns ``mu``, ``sigma`` of shape ``(members, r)``."""
        hidden = inputs
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            hidden = torch.baddbmm(b.unsqueeze(1), hidden, w)
            if i < last:
                hidden = torch.nn.functional.silu(hidden)
        return hidden[..., 0], torch.nn.functional.softplus(hidden[..., 1]) + MIN_SIGMA

    def numpy_params(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"w{i}"] = w.detach().cpu().numpy().astype(np.float64)
            out[f"b{i}"] = b.detach().cpu().numpy().astype(np.float64)
        return out


def _nll(mu: torch.Tensor, sigma: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood, summed over members, averaged over rows."""
    nll = torch.log(sigma) + 0.5 * ((target - mu) / sigma) ** 2
    return nll.mean(dim=1).sum()


def _one_pass(model: _Ensemble, optimiser: torch.optim.Optimizer, batch: Batch,
              plan: TrainPlan, generator: torch.Generator) -> None:
    """One shuffled pass over ``batch``, each member in its own order."""
    inputs = torch.as_tensor(batch.inputs, dtype=torch.float32, device=plan.device)
    targets = torch.as_tensor(batch.targets, dtype=torch.float32, device=plan.device)
    order = torch.stack([torch.randperm(len(targets), generator=generator)
                         for _ in range(plan.members)]).to(plan.device)
    model.train()
    for start in range(0, len(targets), plan.batch_size):
        index = order[:, start:start + plan.batch_size]
        mu, sigma = model(inputs[index])
        loss = _nll(mu, sigma, targets[index])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` intra-op threads, then restore the process's setting.

    The networks are so small that a second thread buys nothing, and on a machine whose cores
    other jobs share, spinning threads made training ten times slower in our measurements.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_ensemble(
    n_in: int,
    draw: Callable[[], Batch],
    score: Callable[[dict[str, np.ndarray]], float] | None,
    plan: TrainPlan,
) -> tuple[dict[str, np.ndarray], int]:
    """Train on freshly drawn samples every pass; keep the weights ``score`` rates lowest.

    Args:
        n_in: input width.
        draw: a new pass's samples (new prefix lengths and support sets each time).
        score: validation error of numpy weights (lower is better); None trains all passes.
        plan: sizes, optimiser and stopping settings.

    Returns:
        The best weights as numpy arrays and the pass (from 1) they come from.
    """
    with _torch_threads(plan.threads):
        generator = torch.Generator().manual_seed(plan.seed)
        model = _Ensemble(n_in, plan, generator).to(plan.device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=plan.lr,
                                      weight_decay=plan.weight_decay)
        best, best_pass, best_error, waited = model.numpy_params(), 0, math.inf, 0
        for index in range(1, plan.passes + 1):
            _one_pass(model, optimiser, draw(), plan, generator)
            params = model.numpy_params()
            error = score(params) if score is not None else -float(index)
            if error < best_error:
                best, best_pass, best_error, waited = params, index, error, 0
            else:
                waited += 1
                if waited >= plan.patience:
                    break
    return best, best_pass
