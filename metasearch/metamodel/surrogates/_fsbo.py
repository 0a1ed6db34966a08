"""FSBO: the gradient-based transfer surrogate, a meta-trained deep-kernel GP."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from metasearch.errors import MetasearchError
from metasearch.evaluation import resolve_device
from metasearch.metamodel._component import Component, FitReport, TaskContext
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel.surrogates._common import (
    check_context,
    check_queries,
    lacks_trials,
    quantile_normalize,
    support_spearman,
)
from metasearch.metamodel.surrogates._deep_kernel import DeepKernelGP

__all__ = ["FSBOConfig", "FSBOPredictor", "FSBOSurrogate"]

REPORT_TASKS = 12
"""Training tasks the fit report scores (the figure is a mean; more only costs time)."""

KERNELS = ("rbf", "matern52")
MEANS = ("linear", "constant")


@contextmanager
def _one_thread(device: str) -> Iterator[None]:
    """Run torch's CPU kernels on one thread for the duration, then restore the setting.

    Every matrix here is tiny (a batch of <= 64 trials, 64-wide layers); extra intra-op
    threads only synchronise, and on a busy machine they made a meta-training step 10 to 40
    times slower. Process-wide, as torch's setting is, but only while this surrogate computes.
    """
    if device != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FSBOPredictor:
    """The deep-kernel GP conditioned on one task's support set (its own copy of the weights)."""

    def __init__(self, module: DeepKernelGP, x: np.ndarray, y: np.ndarray, device: str) -> None:
        self._module, self._device = module, device
        self._dim = module.dim
        self._y = np.asarray(y, dtype=np.float64)
        with torch.no_grad():
            self._state = module.condition(self._tensor(x), self._tensor(y)) if len(y) else None

    def _tensor(self, values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.float64, device=self._device)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the latent quantile-normalized score at encodings ``x``."""
        queries = self._tensor(check_queries(x, self._dim))
        with torch.no_grad(), _one_thread(self._device):
            mean, std = self._module.predict(queries, self._state)
        return mean.detach().cpu().numpy(), std.detach().cpu().numpy()

    def loo(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out predictive means and variances of the support targets (closed form).

        ``mu_-i = y_i - alpha_i / [K^-1]_ii`` and ``var_-i = 1 / [K^-1]_ii`` with ``K`` the
        noisy kernel of the support features (Rasmussen & Williams, eq. 5.12): how well the
        adapted model predicts each of the task's trials without having seen it, which is what
        :class:`~metasearch.metamodel.surrogates._target.TargetBlend` weighs it by.
        """
        if self._state is None:
            return np.zeros(0), np.zeros(0)
        _, chol, alpha = self._state
        with torch.no_grad():
            inverse_diag = torch.diagonal(torch.cholesky_inverse(chol))
            mean = self._y - (alpha.squeeze(-1) / inverse_diag).cpu().numpy()
        return mean, (1.0 / inverse_diag).cpu().numpy()


class _Conditioned:
    """The surrogate adapted by conditioning only (no fine-tuning): the cheap early-stop metric."""

    def __init__(self, owner: FSBOSurrogate) -> None:
        self.owner = owner

    def adapt(self, context: TaskContext) -> FSBOPredictor:
        return self.owner.adapt(context, steps=0)


@dataclass(frozen=True)
class FSBOConfig:
    """The deep-kernel GP's architecture, meta-training and adaptation settings.

    The defaults are small (two hidden layers of 64, 32 features, about 9k weights) so that
    meta-training on ~20 tasks x 200 trials takes seconds on one CPU core; they were chosen on
    the synthetic family by Spearman correlation on held-out tasks (batch size 32-64, one to
    eight tasks per step, 32 or 64 wide, RBF or Matern-5/2 all came within 0.02).

    Attributes:
        hidden: widths of the feature map's hidden ReLU layers.
        features: width of the learned features.
        kernel: ``rbf`` (as the paper) or ``matern52``.
        mean: ``linear`` (a constant plus a linear map of the features) or ``constant`` (as the
            paper). The linear mean learns what scores well on *every* task, so the model
            ranks configurations before and between support trials; on the synthetic family
            it raised held-out Spearman after 5 support trials from 0.52 to 0.66.
        batch_size: trials per task per step.
        tasks_per_step: tasks whose batch losses are averaged per step.
        max_steps: meta-training steps at most.
        learning_rate: Adam's step size in meta-training.
        eval_every: steps between validation scores.
        patience: validation scores without improvement before stopping.
        adapt_steps: fine-tuning steps on a support set of >= 2 trials. 0 by default: on the
            synthetic family every amount of fine-tuning tried (10 to 100 steps, with or
            without the last layer) lowered held-out Spearman at 5, 10, 20 and 50 support
            trials; the meta-learned hyperparameters are a better choice than what a few
            points' marginal likelihood prefers.
        adapt_lr: Adam's step size when fine-tuning.
        adapt_last_layer: also fine-tune the feature map's last layer.
        seed: seeds the initial weights and every batch; the same seed gives the same model.
    """

    hidden: tuple[int, ...] = (64, 64)
    features: int = 32
    kernel: str = "rbf"
    mean: str = "linear"
    batch_size: int = 48
    tasks_per_step: int = 4
    max_steps: int = 2000
    learning_rate: float = 3e-3
    eval_every: int = 50
    patience: int = 10
    adapt_steps: int = 0
    adapt_lr: float = 0.01
    adapt_last_layer: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        counts = {"features": self.features, "batch_size": self.batch_size,
                  "tasks_per_step": self.tasks_per_step, "max_steps": self.max_steps,
                  "eval_every": self.eval_every, "patience": self.patience,
                  "adapt_steps": self.adapt_steps + 1, "hidden": min(self.hidden, default=1)}
        bad = {name: value for name, value in counts.items() if value < 1}
        if bad:
            raise MetasearchError(f"FSBO settings must be positive (adapt_steps >= 0): {bad}")
        if self.kernel not in KERNELS or self.mean not in MEANS:
            raise MetasearchError(f"unknown FSBO kernel {self.kernel!r} or mean {self.mean!r}; "
                                  f"kernels: {KERNELS}, means: {MEANS}")
        if not (self.learning_rate > 0 and self.adapt_lr > 0):
            raise MetasearchError(f"learning rates must be > 0, got {self.learning_rate!r} "
                                  f"and {self.adapt_lr!r}")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}


class FSBOSurrogate(Component):
    """A deep-kernel GP meta-trained on all training tasks, adapted to a new one by conditioning.

    From Wistuba and Grabocka, "Few-shot Bayesian optimization with deep kernel surrogates"
    (ICLR 2021), after Wilson et al., "Deep kernel learning" (AISTATS 2016). An MLP maps an
    encoded configuration to features; an exact GP on them (RBF or Matern-5/2 kernel with a
    learned lengthscale, output scale and noise, and a learned mean) models a task's scores.
    Meta-training maximises the GP marginal likelihood of random batches of trials of random
    training tasks, so the features become those in which *every* task's response surface is
    smooth and the mean what is good on every task. Targets are quantile-normalized per task
    (see :mod:`._common`: invariant to each task's metric scale, and the same scale on a few
    support trials as on a whole task); failed trials are the task's worst. Adam; every
    ``eval_every`` steps the validation tasks are scored (Spearman correlation on a task's
    other trials after conditioning on 5 random ones, fixed draws), the best weights are kept,
    and training stops after ``patience`` scores without improvement.

    :meth:`adapt` copies the meta-trained weights (which never change), optionally fine-tunes
    the copy's GP hyperparameters (and last layer) on the support set's marginal likelihood,
    and conditions on the support set. With no support trial it returns the meta-trained
    prior. Meta-features are not used: the support set is what adapts the model.

    Args:
        config: architecture, training and adaptation settings.
        device: ``cpu`` (default), ``cuda``, ``auto``...; resolved by
            :func:`~metasearch.evaluation.resolve_device`.

    Attributes:
        module: the weights (None before :meth:`fit` or :meth:`initialize`).
        history: ``(step, validation Spearman)`` of each early-stopping check of the last fit.
    """

    kind = "surrogate"

    def lacks(self, data: MetaDataset) -> str | None:
        return lacks_trials(data, "the transfer surrogate")

    def __init__(self, config: FSBOConfig | None = None, device: str = "cpu") -> None:
        self.config = config or FSBOConfig()
        self.device_spec = device
        self.device = resolve_device(device)
        self.module: DeepKernelGP | None = None
        self.history: list[tuple[int, float]] = []

    def initialize(self, dim: int) -> FSBOSurrogate:
        """Fresh random weights for encodings of width ``dim`` (what meta-training starts from).

        Adapting a surrogate that was only initialized is the no-meta-training baseline: the
        same model and adaptation, nothing learned from other tasks.
        """
        if dim < 1:
            raise MetasearchError(f"encodings need at least one column, got dim={dim!r}")
        c = self.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            module = DeepKernelGP(dim, c.hidden, c.features, c.kernel, c.mean)
        self.module = module.to(dtype=torch.float64, device=self.device)
        return self

    @property
    def dim(self) -> int:
        return self._module().dim

    def _module(self) -> DeepKernelGP:
        if self.module is None:
            raise MetasearchError("the FSBO surrogate has no weights: call fit() or initialize()")
        return self.module

    def fit(self, data: MetaDataset, validation: MetaDataset | None = None) -> FitReport:
        """Meta-train on ``data``'s tasks, early-stopping on ``validation``'s when given."""
        start = time.perf_counter()
        tasks = self._task_tensors(data)
        self.initialize(data.space.encoding_length)
        with _one_thread(self.device):
            steps = self._meta_train(tasks, validation)
        seconds = time.perf_counter() - start
        train = {"spearman_at_5": support_spearman(self, data, seed=self.config.seed,
                                                   max_tasks=REPORT_TASKS)[0]}
        valid = {}
        if validation is not None and validation.tasks:
            valid = {"spearman_at_5": support_spearman(self, validation, seed=self.config.seed)[0]}
        return FitReport(train=train, validation=valid, seconds=seconds, epochs=steps)

    def _task_tensors(self, data: MetaDataset) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each training task's encodings and whole-task quantile targets, on the device."""
        if not data.tasks:
            raise MetasearchError(f"no tasks to learn from in family {data.family!r}")
        out = []
        for task, history in data.tasks.items():
            if history.n_trials < 2:
                raise MetasearchError(f"task {task!r} has {history.n_trials} trial(s); "
                                      "meta-training needs at least 2 per task")
            out.append((torch.as_tensor(history.x, dtype=torch.float64, device=self.device),
                        torch.as_tensor(quantile_normalize(history.scores),
                                        dtype=torch.float64, device=self.device)))
        return out

    def _meta_train(self, tasks: list[tuple[torch.Tensor, torch.Tensor]],
                    validation: MetaDataset | None) -> int:
        """Adam on batch marginal likelihoods; keeps the best-validated weights. Returns steps."""
        module, c = self._module(), self.config
        optimizer = torch.optim.Adam(module.parameters(), lr=c.learning_rate)
        rng = np.random.default_rng(c.seed)
        checking = validation if validation is not None and validation.tasks else None
        best, best_state, stale, self.history = -np.inf, None, 0, []
        step = 0
        while step < c.max_steps and stale < c.patience:
            step += 1
            optimizer.zero_grad()
            self._batch_loss(tasks, rng).backward()
            optimizer.step()
            if checking is not None and (step % c.eval_every == 0 or step == c.max_steps):
                score = support_spearman(_Conditioned(self), checking, seed=c.seed)[0]
                self.history.append((step, score))
                if score > best + 1e-4:
                    best, best_state, stale = score, copy.deepcopy(module.state_dict()), 0
                else:
                    stale += 1
        if best_state is not None:
            module.load_state_dict(best_state)
        return step

    def _batch_loss(self, tasks: list[tuple[torch.Tensor, torch.Tensor]],
                    rng: np.random.Generator) -> torch.Tensor:
        module = self._module()
        losses = []
        for t in rng.choice(len(tasks), size=min(self.config.tasks_per_step, len(tasks)),
                            replace=False):
            x, y = tasks[int(t)]
            rows = torch.as_tensor(rng.permutation(len(y))[:self.config.batch_size],
                                   device=self.device)
            losses.append(module.nll(x[rows], y[rows]))
        return torch.stack(losses).mean()

    def adapt(self, context: TaskContext, steps: int | None = None) -> FSBOPredictor:
        """A predictor for ``context``: fine-tuned on its support set, then conditioned on it.

        Args:
            context: the new task's support set (NaN scores are failed trials: the worst).
            steps: fine-tuning steps; the configured ``adapt_steps`` when None.
        """
        x, y = check_context(context, self.dim)
        module = copy.deepcopy(self._module())
        n_steps = self.config.adapt_steps if steps is None else steps
        with _one_thread(self.device):
            if len(y) >= 2 and n_steps > 0:
                self._fine_tune(module, x, y, n_steps)
            return FSBOPredictor(module, x, y, self.device)

    def _fine_tune(self, module: DeepKernelGP, x: np.ndarray, y: np.ndarray, steps: int
                   ) -> None:
        params = module.hyper_parameters()
        if self.config.adapt_last_layer:
            params += list(module.last_layer.parameters())
        optimizer = torch.optim.Adam(params, lr=self.config.adapt_lr)
        xt = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        yt = torch.as_tensor(y, dtype=torch.float64, device=self.device)
        for _ in range(steps):
            optimizer.zero_grad()
            module.nll(xt, yt).backward()
            optimizer.step()

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: value.detach().cpu().numpy().copy()
                for name, value in self._module().state_dict().items()}

    def settings(self) -> dict[str, Any]:
        return {**self.config.to_json(), "device": self.device_spec, "dim": self.dim}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                data_space: Any, *, device: str | None = None) -> FSBOSurrogate:
        """Rebuild from :meth:`settings` and :meth:`arrays` (the weights, loaded strictly).

        Args:
            device: where to put the weights; the device it was fitted with when None (a model
                meta-trained on a GPU loads on a CPU-only machine with ``device="cpu"``).
        """
        fields = {k: v for k, v in settings.items() if k not in ("device", "dim")}
        try:
            config, dim = FSBOConfig(**fields), int(settings["dim"])
        except (KeyError, TypeError, ValueError) as error:
            raise MetasearchError(f"malformed FSBO settings {dict(settings)!r}: {error!r}"
                                  ) from error
        where = device if device is not None else str(settings.get("device", "cpu"))
        model = cls(config, where).initialize(dim)
        state = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64)
                 for k, v in arrays.items()}
        try:
            model._module().load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise MetasearchError(f"FSBO weights do not fit the stored architecture: "
                                  f"{error}") from error
        return model
