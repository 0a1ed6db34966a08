"""The ``cell-cnn`` family: a NAS-Bench-201-style cell CNN on many small image tasks.

The network is NAS-Bench-201's macro skeleton (Dong & Yang, "NAS-Bench-201: Extending the Scope
of Reproducible Neural Architecture Search", ICLR 2020) scaled down to run in seconds on a CPU:
a 3x3 stem, :data:`STAGES` stages of :data:`CELLS_PER_STAGE` cells, a residual reduction block
(stride 2, channels doubled) between stages, then batch norm, ReLU, global average pooling and a
linear head. The searched cell is a 4-node DAG whose six edges each carry one of ``none``,
``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3`` (ReLU-Conv-BN) and ``avg_pool_3x3``.
Only the edges that lie on a path from the cell's input to its output are built: the others
cannot change the output, so cells that differ only in such dead edges, or by a relabelling of
the intermediate nodes, give the same network (and the same cost), and a cell whose output no
path reaches outputs zeros (the head then sees a constant; it trains, at chance accuracy).

The tasks are scikit-learn's 8x8 handwritten digits (1,797 images, offline) turned into 26
problems that differ in what a search should find: class subsets, quarter turns, random small
rotations, additive noise, resolution (up to 16x16, down to 4x4), fewer training images, and
combinations. Every task is a spec in :data:`TASKS` whose id is written from its fields and
whose random draws are seeded from a CRC32 of the id, so a task is the same in every process.
Listing tasks and computing meta-features use numpy, scipy and scikit-learn only; torch is
imported when a configuration is trained.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache, cached_property
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from metasearch.evaluation import DataSplits
from metasearch.families import Task, TaskFamily, classification_meta_features, register_family
from metasearch.spaces import Categorical, CellSpace, Float, Int, SearchSpace

if TYPE_CHECKING:
    from torch import nn

    from metasearch.evaluation import CurveRecorder
    from metasearch.spaces import Cell

__all__ = ["TASKS", "CellCNN", "DigitsSpec", "ImageData", "ImageTask", "build_network"]

SPLIT = (0.6, 0.2, 0.2)
"""Train, validation and test shares of every task (stratified)."""

STAGES = 2
CELLS_PER_STAGE = 1
"""NAS-Bench-201 has 3 stages of 5 cells for 32x32 images; 8x8 digits need far less, and a
full evaluation must take seconds on a CPU (hundreds of configurations x every task)."""

EPOCHS = 10

STACK_ON_CPU = False
"""Whether :meth:`ImageTask.evaluate_batch` stacks networks on the CPU. It does not, since
stacking K=8 or 16 of them ran at 0.7x the one-at-a-time throughput on a 2-core CPU
(``benchmarks/batched_throughput.py``): convolution, pooling and batch norm are bound by compute
and cache there, and slow down per model as the stacked tensors outgrow the cache, while the
per-step overhead that stacking saves is small. On CUDA, where these small kernels leave the
device idle, the batch stacks."""
ALL_DIGITS = tuple(range(10))


def stable_seed(task_id: str, purpose: str) -> int:
    """A seed in [0, 2**32) for one random draw of a task, the same in every process."""
    return zlib.crc32(f"{task_id}/{purpose}".encode())


# -- task specs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitsSpec:
    """A variant of the digits images; transforms apply in field order, on pixels in [0, 1].

    Attributes:
        classes: the digits kept (relabelled 0..k-1 in this order).
        turns: quarter turns (90 degrees each) applied to every image.
        jitter: each image is rotated by its own angle drawn from [-jitter, jitter] degrees.
        side: images resized to ``side`` x ``side`` pixels (bilinear).
        noise: standard deviation of Gaussian noise added to every pixel (all splits: the task
            is noisy, not just its training data).
        n_train: keep this many training images (stratified), or all; valid and test keep
            their size so that scores stay comparable.
    """

    classes: tuple[int, ...] = ALL_DIGITS
    turns: int = 0
    jitter: int = 0
    side: int = 8
    noise: float = 0.0
    n_train: int | None = None

    @property
    def id(self) -> str:
        parts = ["digits"]
        if self.classes != ALL_DIGITS:
            parts.append("c" + "".join(map(str, self.classes)))
        if self.turns:
            parts.append(f"rot{90 * self.turns}")
        if self.jitter:
            parts.append(f"jit{self.jitter}")
        if self.side != 8:
            parts.append(f"side{self.side}")
        if self.noise:
            parts.append(f"noise{self.noise:g}")
        if self.n_train is not None:
            parts.append(f"n{self.n_train}")
        return "-".join(parts)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Images ``(N, side, side)`` as float64 and labels 0..k-1, before the split."""
        if self.classes != tuple(sorted(set(self.classes))):
            raise ValueError(f"{self.id}: classes must be listed once each, in increasing order")
        images, digits = _digits()
        keep = np.isin(digits, self.classes)
        x, y = images[keep], np.searchsorted(np.asarray(self.classes), digits[keep])
        if self.turns:
            x = np.rot90(x, k=self.turns, axes=(1, 2))
        if self.jitter:
            x = _rotate_each(x, self.jitter, stable_seed(self.id, "jitter"))
        if self.side != 8:
            from scipy import ndimage

            factor = self.side / 8
            x = ndimage.zoom(x, (1, factor, factor), order=1, grid_mode=True, mode="nearest")
        if self.noise:
            rng = np.random.default_rng(stable_seed(self.id, "noise"))
            x = x + rng.normal(0.0, self.noise, size=x.shape)
        return np.ascontiguousarray(x), y.astype(np.int64)


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(1797, 8, 8)`` pixels in [0, 1] and their digits."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / 16.0
    images.setflags(write=False)
    return images, np.asarray(bunch.target, dtype=np.int64)


def _rotate_each(x: np.ndarray, degrees: int, seed: int) -> np.ndarray:
    """Every image rotated about its centre by its own angle in [-degrees, degrees]."""
    from scipy import ndimage

    angles = np.random.default_rng(seed).uniform(-degrees, degrees, size=len(x))
    rotated = [
        ndimage.rotate(img, angle, reshape=False, order=1, mode="constant")
        for img, angle in zip(x, angles, strict=True)
    ]
    return np.stack(rotated)


_D = DigitsSpec
TASKS: tuple[DigitsSpec, ...] = (
    # the whole set, and class subsets: fewer, more or less confusable classes
    _D(), _D((0, 1, 2, 3, 4)), _D((5, 6, 7, 8, 9)), _D((0, 2, 4, 6, 8)), _D((1, 3, 5, 7, 9)),
    _D((0, 1, 2)), _D((3, 5, 8)), _D((1, 4, 7)),
    # geometry: quarter turns keep the problem, random rotations blur the classes
    _D(turns=1), _D((0, 1, 2, 3, 4), turns=2), _D(jitter=15), _D(jitter=45),
    # pixel noise
    _D(noise=0.15), _D(noise=0.4),
    # resolution: more pixels (and compute), or fewer pixels (and less to see)
    _D(side=16), _D(side=6), _D(side=4),
    # fewer training images
    _D(n_train=150), _D((5, 6, 7, 8, 9), n_train=60),
    # combinations
    _D(jitter=30, noise=0.25), _D(side=4, noise=0.2), _D(jitter=30, side=16),
    _D((3, 5, 8), side=4, noise=0.3), _D((0, 2, 4, 6, 8), turns=3, noise=0.2),
    _D((1, 3, 5, 7, 9), jitter=45, n_train=100), _D(noise=0.6, n_train=300),
)  # fmt: skip
"""Every task of the family, in listing order. Append new ones; never edit or reorder, since
ids (and the data behind them) are how the warehouse remembers trials."""


# -- tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageData(DataSplits):
    """A task's normalised splits (float32 ``(N, 1, side, side)``, labels 0..k-1), their rows."""

    rows: tuple[np.ndarray, np.ndarray, np.ndarray]
    n_classes: int

    @property
    def side(self) -> int:
        return int(self.x_train.shape[-1])


def split_images(x: np.ndarray, y: np.ndarray, n_train: int | None, seed: int) -> ImageData:
    """Stratified 60/20/20 split (training rows then cut to ``n_train``), normalised with the
    training split's pixel mean and standard deviation (one scalar each, as for images)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    train, rest = train_test_split(index, train_size=SPLIT[0], stratify=y, random_state=seed)
    valid, test = train_test_split(
        rest, test_size=SPLIT[2] / (1 - SPLIT[0]), stratify=y[rest], random_state=seed
    )
    if n_train is not None and n_train < len(train):
        train, _ = train_test_split(
            train, train_size=n_train, stratify=y[train], random_state=seed
        )
    mean, scale = float(x[train].mean()), float(x[train].std())
    images = ((x - mean) / max(scale, 1e-12)).astype(np.float32)[:, None]
    return ImageData(
        images[train], y[train], images[valid], y[valid], images[test], y[test],
        rows=(train, valid, test), n_classes=int(y.max()) + 1,
    )  # fmt: skip


class ImageTask(Task):
    """One image task of the family; its data is built on first use and kept."""

    family: CellCNN

    def __init__(self, family: CellCNN, spec: DigitsSpec) -> None:
        super().__init__(family, spec.id)
        self.spec = spec

    @cached_property
    def data(self) -> ImageData:
        """The normalised train, validation and test splits."""
        x, y = self.spec.load()
        return split_images(x, y, self.spec.n_train, stable_seed(self.id, "split"))

    def prepare(self) -> None:
        super().prepare()
        _ = self.data  # built outside the timed part of evaluate

    def compute_meta_features(self) -> dict[str, float]:
        x = self.data.x_train
        features = classification_meta_features(x.reshape(len(x), -1), self.data.y_train)
        return {**features, "resolution": float(self.data.side)}

    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        from metasearch.evaluation import torch_training as tt

        generator = tt.seed_everything(seed)  # before the model, so its init is seeded too
        model = self._network(config)
        return tt.train_classifier(
            model, self.data, _settings(config, budget), device=device, generator=generator,
            curve=curve,
        )

    def _network(self, config: dict[str, Any]) -> nn.Module:
        cell = self.family.cell_space.parse(config["cell"])
        return build_network(cell, config["channels"], 1, self.data.n_classes)

    def batch_params(self) -> tuple[str, ...]:
        return ("channels", "batch_size", "optimizer", *self.family.cell_space.param_names)

    def batch_key(self, config: dict[str, Any]) -> tuple[Any, ...]:
        """Configurations that build the same network (the same live edges; dead ones do not
        count) and draw the same batches stack."""
        cell = self.family.cell_space.parse(config["cell"])
        edges = tuple(cell.live_edges())
        return edges, config["channels"], config["batch_size"], config["optimizer"]

    def _train_batch(
        self, configs: list[dict[str, Any]], budget: int, device: str, seeds: list[int],
        curves: list[CurveRecorder], stop_on: tuple[type[BaseException], ...],
    ) -> list[float | BaseException | None]:
        if device == "cpu" and not STACK_ON_CPU:
            return super()._train_batch(configs, budget, device, seeds, curves, stop_on)
        from metasearch.evaluation import batched

        return batched.train_configs_batched(
            configs, seeds, curves, build=self._network,
            settings=lambda config: _settings(config, budget), data=self.data, device=device,
            stop_on=stop_on,
        )


def _settings(config: dict[str, Any], budget: int) -> Any:
    from metasearch.evaluation import torch_training as tt

    # SGD runs with TrainSettings' momentum 0.9, as NAS-Bench-201 trains.
    return tt.TrainSettings(
        epochs=budget,
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        batch_size=config["batch_size"],
        optimizer=config["optimizer"],
    )


# -- the network ------------------------------------------------------------------------------


def build_network(cell: Cell, channels: int, in_channels: int, n_classes: int) -> nn.Module:
    """The NAS-Bench-201 skeleton around ``cell`` (see the module docstring), ``channels`` wide
    in the first stage."""
    from torch import nn

    layers = _layers()
    # Only the live edges: an op on a node that nothing reaches sees zeros; NAS-Bench-201 would
    # still build it, and a conv's batch norm would turn the zeros into a learned constant, so
    # pruning drops only that bias.
    edges = cell.live_edges()
    modules: list[nn.Module] = [
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
    ]
    for stage in range(STAGES):
        if stage:
            modules.append(layers.Reduction(channels, 2 * channels))
            channels *= 2
        modules += [layers.Cell(edges, cell.n_nodes, channels) for _ in range(CELLS_PER_STAGE)]
    modules += [
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, n_classes),
    ]
    return nn.Sequential(*modules)


@cache
def _layers() -> Any:
    """The network's own module classes, defined on first use so that torch is imported only
    when a model is built."""
    import torch
    from torch import nn

    def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def operation(op: str, channels: int) -> nn.Module:
        if op == "skip_connect":
            return nn.Identity()
        if op == "avg_pool_3x3":
            return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        kernel = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}.get(op)
        if kernel is None:
            raise ValueError(f"unknown cell operation {op!r}")
        return relu_conv_bn(channels, channels, kernel)

    class Cell(nn.Module):
        """Node j is the sum of op_ij(node i) over the live edges into it; node 0 the input."""

        def __init__(self, edges: list[tuple[int, int, str]], n_nodes: int, channels: int):
            super().__init__()
            self.edges = [(i, j) for i, j, _ in edges]
            self.ops = nn.ModuleList(operation(op, channels) for _, _, op in edges)
            self.n_nodes = n_nodes

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            nodes: list[torch.Tensor | None] = [x] + [None] * (self.n_nodes - 1)
            for (i, j), op in zip(self.edges, self.ops, strict=True):
                source = nodes[i]
                if source is None:  # cannot happen for live edges; keeps the types honest
                    continue
                out = op(source)
                target = nodes[j]
                nodes[j] = out if target is None else target + out
            last = nodes[-1]
            return torch.zeros_like(x) if last is None else last

    class Reduction(nn.Module):
        """NAS-Bench-201's residual block between stages: stride 2, ``c_out`` channels."""

        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.conv_a = relu_conv_bn(c_in, c_out, 3, stride=2)
            self.conv_b = relu_conv_bn(c_out, c_out, 3)
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.shortcut(x) + self.conv_b(self.conv_a(x))

    return SimpleNamespace(Cell=Cell, Reduction=Reduction)


# -- the family -------------------------------------------------------------------------------


@register_family
class CellCNN(TaskFamily):
    """A NAS-Bench-201 cell CNN (cell, width, optimizer) over 26 variants of the digits images."""

    name = "cell-cnn"
    description = "NAS-Bench-201-style cell CNN on digits variants (classes, rotation, noise)"
    metric = "valid_accuracy"
    direction = "maximize"
    max_budget = EPOCHS
    uses_torch = True

    @cached_property
    def cell_space(self) -> CellSpace:
        """The space of the searched cell (the configuration's ``cell``)."""
        return self.space.cells[0]

    def build_space(self) -> SearchSpace:
        # Generic names on purpose: priors transfer across families by parameter name. SGD runs
        # with momentum 0.9, as NAS-Bench-201 trains.
        return SearchSpace(
            params=(
                Categorical("channels", (8, 16, 24)),
                Float("lr", 1e-3, 0.3, log=True),
                Float("weight_decay", 1e-5, 1e-2, log=True),
                Int("batch_size", 32, 128, log=True),
                Categorical("optimizer", ("adam", "adamw", "sgd")),
            ),
            cells=(CellSpace.nb201(),),
        )

    def task_ids(self) -> list[str]:
        return [spec.id for spec in TASKS]

    def make_task(self, task_id: str) -> ImageTask:
        return ImageTask(self, _SPECS[task_id])


_SPECS: dict[str, DigitsSpec] = {spec.id: spec for spec in TASKS}
if len(_SPECS) != len(TASKS):  # two specs writing one id would silently alias tasks
    raise RuntimeError("cell-cnn: task ids are not unique")
