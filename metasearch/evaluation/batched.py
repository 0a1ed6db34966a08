"""Horizontally fused training: K models of one shape trained as one batched program.

Wang et al., "Horizontally Fused Training Array: An Effective Hardware Utilization Squeezer for
Training Novel Deep Learning Models" (HFTA, MLSys 2021) observe that the trials of a search are
small models that leave a device idle one at a time, and train many of them as one program.
Here K models of the same architecture are stacked (:func:`torch.func.stack_module_state`) and
run with :func:`torch.func.functional_call` under :func:`torch.func.vmap`; each keeps what makes
it its own trial:

- its initial weights (built after seeding with its own seed, as the one-at-a-time path does),
- its data order (a permutation per model from its own generator: batches are ``[K, B, ...]``),
- its learning rate, weight decay and momentum (vectors over the stacked dimension, applied by
  :class:`StackedOptimizer`, which follows the update rules of ``torch.optim`` step for step),
- its curve, its report callback and its fate: a diverging model, or one whose report asks to
  stop it, is cut out of the stack and the others go on.

Results equal :func:`metasearch.evaluation.torch_training.train_classifier` up to floating-point
reduction order. Dropout is the exception: under ``vmap(randomness="different")`` the masks come
from one stream for the stack, so models with dropout follow other (equally random) masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from metasearch.evaluation._result import CurveRecorder, TrialFailed
from metasearch.evaluation._splits import DataSplits
from metasearch.evaluation.torch_training import (
    DIVERGENCE_LOSS,
    TrainSettings,
    _autocast,
    seed_everything,
)

__all__ = [
    "BatchedForward",
    "Member",
    "StackedOptimizer",
    "train_classifiers_batched",
    "train_configs_batched",
    "train_models_batched",
    "vmap_forward",
]

Tensors = dict[str, torch.Tensor]
BatchedForward = Callable[[Tensors, Tensors, torch.Tensor, bool], torch.Tensor]
"""``forward(params, buffers, x, train)``: logits ``[K, B, C]`` of the K stacked models, for
``x`` of shape ``[K, B, ...]`` when training (one batch per model) or ``[B, ...]`` (shared)."""

Outcome = float | None | BaseException
"""What one model ends with: its test metric, or the exception that stopped it."""


@dataclass
class Member:
    """One model of a batch: how it trains, its data-order generator and its curve."""

    settings: TrainSettings
    generator: torch.Generator
    curve: CurveRecorder


class StackedOptimizer:
    """Adam, AdamW, SGD or RMSprop on stacked ``[K, ...]`` tensors, with per-model hyperparameters.

    ``torch.optim`` takes one learning rate per parameter group, so K models stacked in one
    tensor cannot each have their own; this applies the same update rules as
    ``torch.optim.{Adam, AdamW, SGD, RMSprop}`` (defaults: betas 0.9/0.999, eps 1e-8, RMSprop
    alpha 0.99; no amsgrad, nesterov or centering) with ``lr``, ``weight_decay`` and
    ``momentum`` as vectors over the stacked dimension. All models of a stack use one rule.
    """

    def __init__(self, params: Sequence[torch.Tensor], settings: Sequence[TrainSettings]) -> None:
        names = {s.optimizer for s in settings}
        if len(names) != 1 or not names <= {"adam", "adamw", "sgd", "rmsprop"}:
            raise ValueError(f"a stack needs one of adam, adamw, sgd, rmsprop; got {names}")
        self.name = names.pop()
        device = params[0].device
        vector = lambda xs: torch.tensor(xs, dtype=torch.float32, device=device)  # noqa: E731
        self.lr = vector([s.lr for s in settings])
        self.decay = vector([s.weight_decay for s in settings])
        self.momentum = vector([s.momentum for s in settings])
        self.steps = 0
        self.state: list[list[torch.Tensor]] = [[] for _ in params]

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the models at ``rows`` (the others left the stack)."""
        self.lr, self.decay, self.momentum = self.lr[rows], self.decay[rows], self.momentum[rows]
        self.state = [[s[rows] for s in slots] for slots in self.state]

    @torch.no_grad()
    def step(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        """Update ``params`` in place from ``grads`` (same order as at construction)."""
        self.steps += 1
        rule = getattr(self, f"_{self.name}")
        for param, grad, slots in zip(params, grads, self.state, strict=True):
            shape = (-1,) + (1,) * (param.dim() - 1)
            vectors = (v.view(shape) for v in (self.lr, self.decay, self.momentum))
            rule(param, grad, slots, *vectors)

    def _adam(self, p: torch.Tensor, g: torch.Tensor, slots: list[torch.Tensor],
              lr: torch.Tensor, decay: torch.Tensor, _: torch.Tensor, decoupled: bool = False,
              ) -> None:
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        if decoupled:
            p.mul_(1 - lr * decay)
        else:
            g = g + decay * p
        if not slots:
            slots += [torch.zeros_like(p), torch.zeros_like(p)]
        m, v = slots
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        correction2 = math.sqrt(1 - beta2**self.steps)
        denom = (v.sqrt() / correction2).add_(eps)
        p.sub_((lr / (1 - beta1**self.steps)) * (m / denom))

    def _adamw(self, p: torch.Tensor, g: torch.Tensor, slots: list[torch.Tensor],
               lr: torch.Tensor, decay: torch.Tensor, momentum: torch.Tensor) -> None:
        self._adam(p, g, slots, lr, decay, momentum, decoupled=True)

    def _sgd(self, p: torch.Tensor, g: torch.Tensor, slots: list[torch.Tensor],
             lr: torch.Tensor, decay: torch.Tensor, momentum: torch.Tensor) -> None:
        g = g + decay * p
        if not slots:  # torch starts the buffer at the first gradient
            slots.append(g.clone())
        else:
            slots[0].mul_(momentum).add_(g)
        p.sub_(lr * slots[0])

    def _rmsprop(self, p: torch.Tensor, g: torch.Tensor, slots: list[torch.Tensor],
                 lr: torch.Tensor, decay: torch.Tensor, momentum: torch.Tensor) -> None:
        alpha, eps = 0.99, 1e-8
        g = g + decay * p
        if not slots:
            slots += [torch.zeros_like(p), torch.zeros_like(p)]
        square, buffer = slots
        square.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        buffer.mul_(momentum).addcdiv_(g, square.sqrt().add_(eps))  # momentum 0: g / avg
        p.sub_(lr * buffer)


def vmap_forward(
    models: Sequence[nn.Module], device: str
) -> tuple[BatchedForward, Tensors, Tensors]:
    """Stack ``models`` (one architecture) for :func:`train_classifiers_batched`.

    Returns:
        The batched forward, and the stacked parameters (leaves requiring grad) and buffers.
    """
    import copy

    from torch.func import functional_call, stack_module_state, vmap

    params, buffers = stack_module_state([m.to(device) for m in models])
    params = {k: v.detach().requires_grad_() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")

    def call(p: Tensors, b: Tensors, x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    def forward(p: Tensors, b: Tensors, x: torch.Tensor, train: bool) -> torch.Tensor:
        base.train(train)
        dims = (0, 0, 0 if train else None)
        return vmap(call, in_dims=dims, randomness="different")(p, b, x)

    return forward, params, buffers


class _Stack:
    """The live part of a batch: which members are still training, and their stacked state."""

    def __init__(self, forward: BatchedForward, params: Tensors, buffers: Tensors,
                 members: Sequence[Member]) -> None:
        self.forward, self.params, self.buffers = forward, params, buffers
        self.rows = list(range(len(members)))  # member index of each stacked row
        self.optimizer = StackedOptimizer(list(params.values()), [m.settings for m in members])
        self.outcomes: list[Outcome] = [None] * len(members)

    def drop(self, stopped: dict[int, BaseException]) -> None:
        """Record why the members in ``stopped`` ended and cut them out of the stack."""
        for index, exc in stopped.items():
            self.outcomes[index] = exc
        keep = [r for r, index in enumerate(self.rows) if index not in stopped]
        device = next(iter(self.params.values())).device
        where = torch.tensor(keep, dtype=torch.long, device=device)
        self.params = {k: v.detach()[where].requires_grad_() for k, v in self.params.items()}
        self.buffers = {k: v[where] for k, v in self.buffers.items()}
        self.optimizer.keep(where)
        self.rows = [self.rows[r] for r in keep]


def _train_epoch(stack: _Stack, members: Sequence[Member], x: torch.Tensor, y: torch.Tensor,
                 device: str) -> None:
    batch = members[stack.rows[0]].settings.batch_size
    orders = torch.stack([torch.randperm(len(x), generator=members[i].generator)
                          for i in stack.rows]).to(x.device)
    for step, start in enumerate(range(0, len(x), batch), start=1):
        index = orders[:, start : start + batch]
        with _autocast(device):
            logits = stack.forward(stack.params, stack.buffers, x[index], True)
            losses = nn.functional.cross_entropy(
                logits.flatten(0, 1).float(), y[index].flatten(), reduction="none"
            ).view(index.shape).mean(dim=1)
        params = list(stack.params.values())
        grads = torch.autograd.grad(losses.sum(), params)
        stack.optimizer.step(params, grads)
        values = losses.detach().tolist()
        bad = [r for r, v in enumerate(values) if not math.isfinite(v) or v > DIVERGENCE_LOSS]
        if bad:
            message = "training diverged: loss {:.4g} at batch {}"
            stack.drop({stack.rows[r]: TrialFailed(message.format(values[r], step)) for r in bad})
            if not stack.rows:
                return
            orders = orders[[r for r in range(len(values)) if r not in bad]]


@torch.no_grad()
def _accuracy(stack: _Stack, x: torch.Tensor, y: torch.Tensor, device: str) -> list[float]:
    correct = torch.zeros(len(stack.rows), dtype=torch.long, device=x.device)
    for start in range(0, len(x), 1024):
        with _autocast(device):
            logits = stack.forward(stack.params, stack.buffers, x[start : start + 1024], False)
        correct += (logits.argmax(dim=-1) == y[start : start + 1024]).sum(dim=1)
    return [c / max(1, len(x)) for c in correct.tolist()]


def _record(stack: _Stack, members: Sequence[Member], values: list[float],
            stop_on: tuple[type[BaseException], ...]) -> None:
    stopped: dict[int, BaseException] = {}
    catch: tuple[type[BaseException], ...] = (TrialFailed, *stop_on)
    for index, value in zip(list(stack.rows), values, strict=True):
        try:
            members[index].curve.step(value)
        except catch as exc:
            stopped[index] = exc
    if stopped:
        stack.drop(stopped)


def train_classifiers_batched(
    forward: BatchedForward,
    params: Tensors,
    buffers: Tensors,
    data: DataSplits,
    members: Sequence[Member],
    *,
    device: str,
    stop_on: tuple[type[BaseException], ...] = (),
) -> list[Outcome]:
    """Train the stacked models like :func:`~.torch_training.train_classifier`, each on its own.

    All members must share ``batch_size``, ``epochs`` and ``optimizer``. A member whose loss
    diverges ends with :class:`TrialFailed`; one whose curve's report raises one of ``stop_on``
    ends with that exception; anything else a report raises propagates.

    Returns:
        Per member: the test accuracy of its final model, or the exception that ended it.
    """
    if len({(m.settings.batch_size, m.settings.epochs) for m in members}) != 1:
        raise ValueError("a stack needs one batch size and one number of epochs")
    stack = _Stack(forward, params, buffers, members)
    try:
        x_train, y_train, x_valid, y_valid, x_test, y_test = data.tensors(device)
        for _ in range(members[0].settings.epochs):
            _train_epoch(stack, members, x_train, y_train, device)
            if not stack.rows:
                break
            _record(stack, members, _accuracy(stack, x_valid, y_valid, device), stop_on)
            if not stack.rows:
                break
        if stack.rows:
            for index, value in zip(stack.rows, _accuracy(stack, x_test, y_test, device),
                                    strict=True):
                stack.outcomes[index] = value
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        reason = f"out of memory on {device}: {str(exc).splitlines()[0]}"
        for index in stack.rows:
            stack.outcomes[index] = TrialFailed(reason)
    return stack.outcomes


def train_models_batched(
    models: Sequence[nn.Module],
    data: DataSplits,
    members: Sequence[Member],
    *,
    device: str,
    stop_on: tuple[type[BaseException], ...] = (),
) -> list[Outcome]:
    """:func:`train_classifiers_batched` on ``models`` (one architecture) stacked by
    :func:`vmap_forward`."""
    forward, params, buffers = vmap_forward(models, device)
    return train_classifiers_batched(
        forward, params, buffers, data, members, device=device, stop_on=stop_on
    )


def train_configs_batched(
    configs: Sequence[dict[str, Any]],
    seeds: Sequence[int],
    curves: Sequence[CurveRecorder],
    *,
    build: Callable[[dict[str, Any]], nn.Module],
    settings: Callable[[dict[str, Any]], TrainSettings],
    data: DataSplits,
    device: str,
    stop_on: tuple[type[BaseException], ...] = (),
) -> list[Outcome]:
    """Build and train one model per configuration (one architecture) as one stack.

    Each model is built right after seeding with its own seed, as the one-at-a-time path
    does, so it starts from the same weights and draws its data order from its own generator.
    """
    models, members = [], []
    for config, seed, curve in zip(configs, seeds, curves, strict=True):
        generator = seed_everything(seed)
        models.append(build(config))
        members.append(Member(settings(config), generator, curve))
    return train_models_batched(models, data, members, device=device, stop_on=stop_on)
