"""``synthetic``: an analytic family for tests and quick comparisons (milliseconds per trial).

Forty related tasks over a mixed space (learning rate, weight decay, width, dropout, optimizer
with a conditional momentum, and a NAS-Bench-201 cell). Every task draws its optimum from one
family-wide distribution, so what was learned on some tasks transfers to the others, and its
meta-features are noisy functions of where its optimum lies, so they carry real signal. The
value after ``t`` epochs rises like a saturating learning curve whose speed depends on the
learning rate, with overfitting late for low dropout and seeded noise on every step; learning
rates far above the optimum diverge and fail. The noise-free optimum of each task is known
exactly (:meth:`SyntheticTask.optimum`), so regret can be computed without a table.
"""

from __future__ import annotations

import math
import zlib
from functools import cache
from typing import Any

import numpy as np

from metasearch.evaluation import CurveRecorder, TrialFailed
from metasearch.families import Task, TaskFamily, register_family
from metasearch.spaces import Categorical, CellSpace, Condition, Float, Int, SearchSpace

N_TASKS = 40
EPOCHS = 20
OPTIMIZERS = ("adam", "sgd", "rmsprop")
# Family-wide value of each operation (none, skip, conv1x1, conv3x3, avg_pool) and of each
# edge's position: edges into the output node matter most.
OP_VALUE = np.array([0.0, 0.45, 0.7, 1.0, 0.25])
EDGE_WEIGHT = np.array([0.6, 0.5, 0.5, 1.0, 0.8, 0.8])
DIVERGE_AT = 1.8  # decades of learning rate above the task's optimum where training fails


def _rng(*keys: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``keys`` (never Python's salted ``hash``)."""
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


@cache
def _cell_table() -> tuple[dict[str, int], np.ndarray, list[str]]:
    """Every distinct network of the NB201 space: key -> row, encodings, one arch per row."""
    space = CellSpace.nb201()
    rows: dict[str, int] = {}
    encodings: list[np.ndarray] = []
    archs: list[str] = []
    for cell in space.all_cells():
        key = space.canonical(cell)
        if key not in rows:
            rows[key] = len(encodings)
            encodings.append(space.encode(cell))
            archs.append(cell.to_nb201())
    return rows, np.stack(encodings), archs


@register_family
class SyntheticFamily(TaskFamily):
    """Analytic tasks with known optima and curve-shaped outputs (see the module docstring)."""

    name = "synthetic"
    description = "analytic mixed hyperparameter + cell tasks with known optima (ms per trial)"
    metric = "valid_score"
    direction = "maximize"
    max_budget = EPOCHS
    uses_torch = False

    def build_space(self) -> SearchSpace:
        return SearchSpace(
            params=(
                Float("lr", 1e-5, 1.0, log=True),
                Float("weight_decay", 1e-6, 1e-1, log=True),
                Int("width", 8, 512, log=True),
                Float("dropout", 0.0, 0.8),
                Categorical("optimizer", OPTIMIZERS),
                Float("momentum", 0.0, 0.99, condition=Condition("optimizer", ("sgd", "rmsprop"))),
            ),
            cells=(CellSpace.nb201(),),
        )

    def task_ids(self) -> list[str]:
        return [f"synthetic-{i:02d}" for i in range(N_TASKS)]

    def make_task(self, task_id: str) -> Task:
        return SyntheticTask(self, task_id)


class SyntheticTask(Task):
    """One analytic task; its latent optimum is drawn from a seed derived from its id."""

    def __init__(self, family: TaskFamily, task_id: str) -> None:
        super().__init__(family, task_id)
        z = _rng("latent", task_id).standard_normal(12)
        self.lr_opt = -2.7 + 0.7 * z[0]  # log10 of the best Adam learning rate
        self.wd_opt = -4.0 + 0.8 * z[1]  # log10
        self.width_opt = 6.5 + 1.0 * z[2]  # log2
        self.dropout_opt = float(np.clip(0.25 + 0.15 * z[3], 0.0, 0.7))
        self.optimizer_bonus = np.array([0.0, -0.04, -0.02]) + 0.03 * z[4:7]
        self.n_classes = int(2 + zlib.crc32(task_id.encode()) % 9)
        self.ceiling = float(np.clip(0.93 + 0.04 * z[7], 0.8, 0.995))
        self.floor = 1.0 / self.n_classes
        self.cell_weights = (
            EDGE_WEIGHT[:, None] * OP_VALUE[None, :]
            + 0.25 * _rng("cell", task_id).standard_normal((6, 5))
        ).ravel()

    def compute_meta_features(self) -> dict[str, float]:
        # Noisy functions of the latent optimum, as data-set statistics would be for real data.
        noise = _rng("meta", self.id).standard_normal(4)
        return {
            "log_rows": 7.5 + 1.2 * (self.lr_opt + 2.7) / 0.7 + 0.3 * noise[0],
            "log_features": 3.0 + 0.8 * (self.width_opt - 6.5) + 0.3 * noise[1],
            "n_classes": float(self.n_classes),
            "landmark_linear": float(np.clip(self.ceiling - 0.2 + 0.05 * noise[2], 0.0, 1.0)),
            "noise_level": float(abs(0.02 + 0.05 * (self.dropout_opt - 0.25) + 0.01 * noise[3])),
        }

    # -- the analytic objective ---------------------------------------------------------

    def _lr_distance(self, config: dict[str, Any]) -> float:
        """Signed decades from the best learning rate (SGD wants a larger step than Adam)."""
        shift = {"adam": 0.0, "sgd": 0.8, "rmsprop": -0.2}[config["optimizer"]]
        return math.log10(config["lr"]) - (self.lr_opt + shift)

    def _hp_score(self, config: dict[str, Any]) -> float:
        d2 = (self._lr_distance(config) / 0.6) ** 2
        d2 += ((math.log10(config["weight_decay"]) - self.wd_opt) / 1.5) ** 2
        d2 += ((math.log2(config["width"]) - self.width_opt) / 2.0) ** 2
        d2 += ((config["dropout"] - self.dropout_opt) / 0.3) ** 2
        if "momentum" in config:
            d2 += ((config["momentum"] - 0.9) / 0.25) ** 2
        bonus = self.optimizer_bonus[OPTIMIZERS.index(config["optimizer"])]
        return float(np.clip(math.exp(-0.5 * d2) + bonus, 0.0, 1.0))

    def _cell_score(self, arch: str) -> float:
        rows, encodings, _ = _cell_table()
        scores = encodings @ self.cell_weights
        key = self.family.space.cells[0].canonical(arch)
        return float((scores[rows[key]] - scores.min()) / (scores.max() - scores.min()))

    def final_value(self, config: dict[str, Any]) -> float:
        """The noise-free value after the full budget."""
        quality = 0.65 * self._hp_score(config) + 0.35 * self._cell_score(config["cell"])
        return self.floor + (self.ceiling - self.floor) * quality

    def optimum(self) -> tuple[dict[str, Any], float]:
        """The configuration with the best noise-free value, and that value."""
        _, encodings, archs = _cell_table()
        cell = archs[int(np.argmax(encodings @ self.cell_weights))]
        space = self.family.space
        candidates = []
        for opt in OPTIMIZERS:
            shift = {"adam": 0.0, "sgd": 0.8, "rmsprop": -0.2}[opt]
            config = {
                "lr": float(np.clip(10 ** (self.lr_opt + shift), 1e-5, 1.0)),
                "weight_decay": float(np.clip(10**self.wd_opt, 1e-6, 1e-1)),
                "width": int(np.clip(round(2**self.width_opt), 8, 512)),
                "dropout": self.dropout_opt,
                "optimizer": opt,
                "cell": cell,
            }
            if opt != "adam":
                config["momentum"] = 0.9
            candidates.append(space.validate(config))
        best = max(candidates, key=self.final_value)
        return best, self.final_value(best)

    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        final = self.final_value(config)
        distance = self._lr_distance(config)
        tau = 1.0 + 6.0 / (1.0 + math.exp(2.5 * distance))  # small learning rates learn slowly
        # Low dropout and wide layers overfit: the curve peaks mid-run and comes back down to
        # the final value, so early epochs can rank such configurations too high.
        overfit = 0.08 * (1.0 - config["dropout"] / 0.8) * min(1.0, config["width"] / 256)
        noise = _rng("curve", self.id, sorted(config.items()), seed).standard_normal(EPOCHS + 1)
        for t in range(1, budget + 1):
            if distance > DIVERGE_AT and t >= 2:
                raise TrialFailed(f"training diverged: loss nan at epoch {t}")
            rise = (1 - math.exp(-t / tau)) / (1 - math.exp(-EPOCHS / tau))
            bump = overfit * 4 * (t / EPOCHS) * (1 - t / EPOCHS)
            value = self.floor + (final - self.floor) * rise + bump + 0.004 * noise[t]
            curve.step(float(np.clip(value, 0.0, 1.0)))
        return float(np.clip(final + 0.01 * noise[0], 0.0, 1.0))
