"""``shift`` and ``shift-noise``: analytic families whose best configuration moves with the data.

Forty tasks over a small MLP-like space (learning rate, width, dropout, optimizer). Each task is
a data set of ``n_rows`` rows and ``n_features`` columns (drawn log-uniformly); its best learning
rate grows with ``n_rows`` (0.8 decades per decade of rows: larger data sets take larger steps
at a fixed epoch budget), its best width with ``n_features`` and its best dropout falls with
``n_rows``. The tolerance around the best learning rate (0.3 decades) is narrow against its
spread over tasks (2.4 decades), so no single configuration, nor any five, is good on every
task, while the data set's size says where to look: the setting in which task meta-features
must change what is tried first.

``shift-noise`` has the same tasks and values but meta-features drawn independently of them
(same names and ranges): the setting in which meta-features carry nothing and must not hurt.
Values are deterministic functions of the configuration plus seeded noise (milliseconds per
trial); :meth:`ShiftTask.final_value` is the noise-free value, so regret is exact.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from metasearch.evaluation import CurveRecorder
from metasearch.families import Task, TaskFamily, register_family
from metasearch.spaces import Categorical, Float, Int, SearchSpace

N_TASKS = 40
EPOCHS = 10
OPTIMIZERS = ("adam", "sgd")


def _rng(*keys: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``keys`` (never Python's salted ``hash``)."""
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


def _data_shape(task_id: str, salt: str) -> dict[str, float]:
    """Rows, columns, classes and class entropy of a task's data set, drawn from ``salt``."""
    u = _rng(salt, task_id).random(4)
    return {
        "n_rows": float(round(10 ** (2.0 + 3.0 * u[0]))),
        "n_features": float(round(2 ** (2.0 + 7.0 * u[1]))),
        "n_classes": float(2 + int(9 * u[2])),
        "class_entropy": float(0.6 + 0.4 * u[3]),
    }


@register_family
class ShiftFamily(TaskFamily):
    """Tasks whose best learning rate, width and dropout follow their size (module docstring)."""

    name = "shift"
    description = "analytic tasks whose best lr/width/dropout shift with n_rows/n_features"
    metric = "valid_score"
    direction = "maximize"
    max_budget = EPOCHS
    uses_torch = False
    informative = True

    def build_space(self) -> SearchSpace:
        return SearchSpace(params=(
            Float("lr", 1e-5, 1.0, log=True),
            Int("width", 8, 1024, log=True),
            Float("dropout", 0.0, 0.7),
            Categorical("optimizer", OPTIMIZERS),
        ))

    def task_ids(self) -> list[str]:
        return [f"{self.name}-{i:02d}" for i in range(N_TASKS)]

    def make_task(self, task_id: str) -> Task:
        return ShiftTask(self, task_id)


@register_family
class ShiftNoiseFamily(ShiftFamily):
    """The tasks of ``shift`` with meta-features that say nothing about them."""

    name = "shift-noise"
    description = "shift's tasks with meta-features drawn independently of them (pure noise)"
    informative = False


class ShiftTask(Task):
    """One task: its data shape fixes where its optimum lies."""

    def __init__(self, family: TaskFamily, task_id: str) -> None:
        super().__init__(family, task_id)
        index = task_id.rsplit("-", 1)[-1]
        self.shape = _data_shape(index, "shape")
        z = _rng("latent", index).standard_normal(4)
        rows, cols = math.log10(self.shape["n_rows"]), math.log2(self.shape["n_features"])
        self.lr_opt = -4.2 + 0.8 * (rows - 2.0) + 0.1 * z[0]  # log10
        self.width_opt = 3.5 + 0.75 * (cols - 2.0) + 0.3 * z[1]  # log2
        self.dropout_opt = float(np.clip(0.5 - 0.15 * (rows - 2.0) + 0.05 * z[2], 0.0, 0.7))
        self.floor = 1.0 / self.shape["n_classes"]
        self.ceiling = float(np.clip(0.9 + 0.03 * z[3], 0.75, 0.99))

    def compute_meta_features(self) -> dict[str, float]:
        if getattr(self.family, "informative", True):
            return dict(self.shape)
        return _data_shape(self.id, "unrelated")

    def final_value(self, config: dict[str, Any]) -> float:
        """The noise-free value after the full budget."""
        d2 = ((math.log10(config["lr"]) - self.lr_opt) / 0.3) ** 2
        d2 += ((math.log2(config["width"]) - self.width_opt) / 1.2) ** 2
        d2 += ((config["dropout"] - self.dropout_opt) / 0.2) ** 2
        quality = math.exp(-0.5 * d2) * (1.0 if config["optimizer"] == "adam" else 0.95)
        return self.floor + (self.ceiling - self.floor) * quality

    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        final = self.final_value(config)
        noise = _rng("curve", self.id, sorted(config.items()), seed).standard_normal(EPOCHS + 1)
        for t in range(1, budget + 1):
            rise = (1 - math.exp(-t / 3.0)) / (1 - math.exp(-EPOCHS / 3.0))
            value = self.floor + (final - self.floor) * rise + 0.003 * noise[t]
            curve.step(float(np.clip(value, 0.0, 1.0)))
        return float(np.clip(final + 0.005 * noise[0], 0.0, 1.0))
