"""The ``tabular-mlp`` family: an MLP classifier tuned over many related tabular data sets.

The tasks are scikit-learn's four bundled classification sets (iris, wine, breast cancer,
digits, all offline), variants of them (row subsamples, feature subsets, label noise) and
synthetic sets from ``make_classification`` that vary size, dimension, classes, informative
features, class imbalance and separation. The spread is deliberate: a meta-learner should see
tasks where the best learning rate, width and regularisation differ, and learn from meta-features
which task looks like which.

Every task is data: a spec in :data:`TASKS`, whose id is written from its fields and whose random
draws (subsample, feature subset, noise, generation, split) are seeded from a CRC32 of the id, so
a task is the same in every process and on every machine. Listing tasks and computing
meta-features use numpy and scikit-learn only; torch is imported when a configuration is trained.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from metasearch.evaluation import DataSplits
from metasearch.families import Task, TaskFamily, classification_meta_features, register_family
from metasearch.spaces import Categorical, Condition, Float, Int, SearchSpace

if TYPE_CHECKING:
    from torch import nn

    from metasearch.evaluation import CurveRecorder

__all__ = ["TASKS", "GeneratedSpec", "SklearnSpec", "TabularData", "TabularMLP", "TabularTask"]

SPLIT = (0.6, 0.2, 0.2)
"""Train, validation and test shares of every task (stratified)."""

ACTIVATIONS = ("relu", "gelu", "tanh", "silu")


def stable_seed(task_id: str, purpose: str) -> int:
    """A seed in [0, 2**32) for one random draw of a task, the same in every process."""
    return zlib.crc32(f"{task_id}/{purpose}".encode())


# -- task specs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SklearnSpec:
    """A bundled scikit-learn set, optionally subsampled, cut to some features, or relabelled.

    Attributes:
        base: ``iris``, ``wine``, ``breast_cancer`` or ``digits``.
        rows: keep this many rows (stratified), or all.
        features_pct: keep this percentage of the columns (at least two), or all.
        noise_pct: give this percentage of the rows a wrong label (test rows too: the task is
            noisy, not just its training data).
        rep: tells apart replicates that differ only in their random draws.
    """

    base: str
    rows: int | None = None
    features_pct: int | None = None
    noise_pct: int = 0
    rep: int = 0

    @property
    def id(self) -> str:
        parts = [self.base]
        if self.rows is not None:
            parts.append(f"sub{self.rows}")
        if self.features_pct is not None:
            parts.append(f"feat{self.features_pct}")
        if self.noise_pct:
            parts.append(f"noise{self.noise_pct}")
        if len(parts) > 1 or self.rep:
            parts.append(f"s{self.rep}")
        return "-".join(parts)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels, before the split."""
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{self.base}")()
        x, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
        if self.features_pct is not None:
            rng = np.random.default_rng(stable_seed(self.id, "features"))
            keep = max(2, round(x.shape[1] * self.features_pct / 100))
            x = x[:, np.sort(rng.choice(x.shape[1], size=keep, replace=False))]
        if self.rows is not None and self.rows < len(y):
            from sklearn.model_selection import train_test_split

            seed = stable_seed(self.id, "rows")
            rows, _ = train_test_split(
                np.arange(len(y)), train_size=self.rows, stratify=y, random_state=seed
            )
            rows = np.sort(rows)
            x, y = x[rows], y[rows]
        return x, _flip_labels(y, self.noise_pct / 100, stable_seed(self.id, "noise"))


@dataclass(frozen=True)
class GeneratedSpec:
    """A synthetic set from ``sklearn.datasets.make_classification``.

    Attributes:
        rows, dims, informative, classes: sample count, features, informative features and
            classes (a quarter of the rest are redundant combinations, the others noise).
        imbalance: smallest over largest class weight (1 is balanced); weights are geometric.
        sep: ``class_sep``, the distance between class clusters (larger is easier).
        rep: tells apart replicates that differ only in their random draws.
    """

    rows: int
    dims: int
    informative: int
    classes: int
    imbalance: float = 1.0
    sep: float = 1.0
    rep: int = 0

    @property
    def id(self) -> str:
        return (
            f"gen-n{self.rows}-d{self.dims}-i{self.informative}-c{self.classes}"
            f"-imb{self.imbalance:g}-sep{self.sep:g}-s{self.rep}"
        )

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels, before the split."""
        from sklearn.datasets import make_classification

        clusters = 2 if self.classes * 2 <= 2**self.informative else 1
        ratios = self.imbalance ** (np.arange(self.classes) / max(1, self.classes - 1))
        x, y = make_classification(
            n_samples=self.rows,
            n_features=self.dims,
            n_informative=self.informative,
            n_redundant=(self.dims - self.informative) // 4,
            n_classes=self.classes,
            n_clusters_per_class=clusters,
            weights=list(ratios / ratios.sum()),
            flip_y=0.01,
            class_sep=self.sep,
            random_state=stable_seed(self.id, "generate"),
        )
        return x, y


TaskSpec = SklearnSpec | GeneratedSpec

_S, _G = SklearnSpec, GeneratedSpec
TASKS: tuple[TaskSpec, ...] = (
    # the four bundled sets as they are
    _S("iris"), _S("wine"), _S("breast_cancer"), _S("digits"),
    # fewer rows: the same problem with less to learn from
    _S("digits", rows=300, rep=1), _S("digits", rows=300, rep=2), _S("digits", rows=600, rep=1),
    _S("breast_cancer", rows=200, rep=1), _S("wine", rows=100, rep=1),
    # fewer features: some of the signal gone
    _S("digits", features_pct=25, rep=1), _S("digits", features_pct=50, rep=2),
    _S("breast_cancer", features_pct=20, rep=1), _S("breast_cancer", features_pct=50, rep=2),
    _S("wine", features_pct=30, rep=1), _S("wine", features_pct=50, rep=2),
    # wrong labels: a lower ceiling, and a reason to regularise
    _S("iris", noise_pct=20, rep=1), _S("wine", noise_pct=20, rep=1),
    _S("breast_cancer", noise_pct=10, rep=1), _S("breast_cancer", noise_pct=30, rep=2),
    _S("digits", noise_pct=20, rep=1), _S("digits", noise_pct=40, rep=1),
    # all three at once
    _S("digits", rows=500, features_pct=50, noise_pct=10, rep=3),
    _S("breast_cancer", rows=300, features_pct=50, noise_pct=10, rep=3),
    # synthetic: size, dimension, classes, imbalance and separation varied
    _G(300, 5, 3, 2, sep=1.0, rep=1),
    _G(300, 20, 4, 3, imbalance=0.5, sep=1.0, rep=1),
    _G(500, 10, 5, 2, imbalance=0.2, sep=0.8, rep=1),
    _G(500, 50, 10, 4, sep=1.5, rep=1),
    _G(800, 20, 6, 3, imbalance=0.3, sep=1.0, rep=4),
    _G(800, 8, 8, 8, sep=1.5, rep=1),
    _G(800, 100, 10, 2, sep=0.7, rep=1),
    _G(1000, 15, 5, 5, imbalance=0.5, sep=1.2, rep=1),
    _G(1000, 30, 15, 10, sep=2.0, rep=1),
    _G(1200, 40, 8, 3, sep=0.6, rep=2),
    _G(1200, 12, 4, 2, imbalance=0.1, sep=1.0, rep=1),
    _G(1500, 20, 10, 6, imbalance=0.4, sep=1.0, rep=1),
    _G(1500, 60, 20, 4, sep=1.0, rep=1),
    _G(2000, 10, 6, 4, sep=0.8, rep=1),
    _G(2000, 25, 12, 8, imbalance=0.3, sep=1.5, rep=1),
    _G(2500, 50, 25, 5, sep=0.7, rep=1),
    _G(3000, 16, 8, 3, sep=0.5, rep=1),
    _G(3000, 32, 16, 10, imbalance=0.5, sep=1.8, rep=1),
)  # fmt: skip
"""Every task of the family, in listing order. Append new ones; never edit or reorder, since
ids (and the data behind them) are how the warehouse remembers trials."""


def _flip_labels(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """``y`` with ``share`` of the rows moved to another class, chosen at random."""
    if share <= 0:
        return y
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    rows = rng.choice(len(y), size=round(share * len(y)), replace=False)
    shift = rng.integers(1, len(classes), size=len(rows))
    position = np.searchsorted(classes, y[rows])
    out = y.copy()
    out[rows] = classes[(position + shift) % len(classes)]
    return out


# -- tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TabularData(DataSplits):
    """A task's standardized splits (float32 features, labels 0..n_classes-1) and their rows."""

    rows: tuple[np.ndarray, np.ndarray, np.ndarray]
    n_classes: int


def split_data(x: np.ndarray, y: np.ndarray, seed: int) -> TabularData:
    """Stratified 60/20/20 split, standardized with the training split's statistics."""
    from sklearn.model_selection import train_test_split

    classes, y = np.unique(y, return_inverse=True)
    index = np.arange(len(y))
    train, rest = train_test_split(index, train_size=SPLIT[0], stratify=y, random_state=seed)
    valid, test = train_test_split(
        rest, test_size=SPLIT[2] / (1 - SPLIT[0]), stratify=y[rest], random_state=seed
    )
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    x = ((x - mean) / scale).astype(np.float32)
    labels = y.astype(np.int64)
    return TabularData(
        x[train], labels[train], x[valid], labels[valid], x[test], labels[test],
        rows=(train, valid, test), n_classes=len(classes),
    )  # fmt: skip


class TabularTask(Task):
    """One data set of the family; its data is built on first use and kept."""

    def __init__(self, family: TaskFamily, spec: TaskSpec) -> None:
        super().__init__(family, spec.id)
        self.spec = spec

    @cached_property
    def data(self) -> TabularData:
        """The standardized train, validation and test splits."""
        x, y = self.spec.load()
        return split_data(x, y, stable_seed(self.id, "split"))

    def prepare(self) -> None:
        super().prepare()
        _ = self.data  # built outside the timed part of evaluate

    def compute_meta_features(self) -> dict[str, float]:
        return classification_meta_features(self.data.x_train, self.data.y_train)

    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        from metasearch.evaluation import torch_training as tt

        generator = tt.seed_everything(seed)  # before the model, so its init is seeded too
        model = build_mlp(self.data.x_train.shape[1], self.data.n_classes, config)
        return tt.train_classifier(
            model, self.data, _settings(config, budget), device=device, generator=generator,
            curve=curve,
        )

    def batch_params(self) -> tuple[str, ...]:
        return ("width", "depth", "activation", "dropout", "batch_size", "optimizer")

    def batch_key(self, config: dict[str, Any]) -> tuple[Any, ...]:
        """Configurations that build the same network and draw the same batches stack."""
        return tuple(config[k] for k in self.batch_params())

    def _train_batch(
        self, configs: list[dict[str, Any]], budget: int, device: str, seeds: list[int],
        curves: list[CurveRecorder], stop_on: tuple[type[BaseException], ...],
    ) -> list[float | BaseException | None]:
        from metasearch.evaluation import batched

        n_in, n_out = self.data.x_train.shape[1], self.data.n_classes
        return batched.train_configs_batched(
            configs, seeds, curves, build=lambda config: build_mlp(n_in, n_out, config),
            settings=lambda config: _settings(config, budget), data=self.data, device=device,
            stop_on=stop_on,
        )


def _settings(config: dict[str, Any], budget: int) -> Any:
    from metasearch.evaluation import torch_training as tt

    return tt.TrainSettings(
        epochs=budget,
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        batch_size=config["batch_size"],
        optimizer=config["optimizer"],
        momentum=config.get("momentum", 0.0),
    )


def build_mlp(n_in: int, n_out: int, config: dict[str, Any]) -> nn.Module:
    """``depth`` blocks of Linear, activation and dropout, ``width`` wide, then a linear head."""
    from torch import nn

    activation = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}
    layers: list[nn.Module] = []
    width_in = n_in
    for _ in range(config["depth"]):
        layers += [nn.Linear(width_in, config["width"]), activation[config["activation"]]()]
        if config["dropout"] > 0:
            layers.append(nn.Dropout(config["dropout"]))
        width_in = config["width"]
    layers.append(nn.Linear(width_in, n_out))
    return nn.Sequential(*layers)


# -- the family -------------------------------------------------------------------------------


@register_family
class TabularMLP(TaskFamily):
    """An MLP classifier (optimizer, regularisation and shape) over ~40 tabular data sets."""

    name = "tabular-mlp"
    description = "MLP classifier on scikit-learn's bundled, varied and synthetic tabular sets"
    metric = "valid_accuracy"
    direction = "maximize"
    max_budget = 20
    uses_torch = True

    def build_space(self) -> SearchSpace:
        # Generic names on purpose: priors transfer across families by parameter name.
        return SearchSpace(
            params=(
                Float("lr", 1e-4, 1e-1, log=True),
                Float("weight_decay", 1e-6, 1e-1, log=True),
                # An ordered log-int rather than a categorical: neighbouring sizes behave alike.
                Int("batch_size", 16, 256, log=True),
                Categorical("optimizer", ("adam", "adamw", "sgd", "rmsprop")),
                Float("momentum", 0.0, 0.99, condition=Condition("optimizer", ("sgd", "rmsprop"))),
                Int("width", 16, 256, log=True),
                Int("depth", 1, 4),
                Float("dropout", 0.0, 0.6),
                Categorical("activation", ACTIVATIONS),
            )
        )

    def task_ids(self) -> list[str]:
        return [spec.id for spec in TASKS]

    def make_task(self, task_id: str) -> TabularTask:
        return TabularTask(self, _SPECS[task_id])


_SPECS: dict[str, TaskSpec] = {spec.id: spec for spec in TASKS}
if len(_SPECS) != len(TASKS):  # two specs writing one id would silently alias tasks
    raise RuntimeError("tabular-mlp: task ids are not unique")
