"""``taskset``: TaskSet optimizer curves (Metz et al., 2020), one task per JSON file.

Each file is a list of runs: ``{"hp": {8 optimizer hyperparameters}, "train"|"valid"|"test":
{"loss": [51 values]}}`` (the shared folder holds nine IMDB RNN classifiers with 1,000 Adam
configurations each, from github.com/releaunifreiburg/DPL). Every ``*.json`` in the folder is a
task, so more files give more tasks with no code change.

The search minimizes the validation loss; the test loss at the same step is the test value. A
curve holding NaN (a diverged run) is a failed trial from its first NaN step. Evaluation is a
lookup (:mod:`metasearch.families._tabular`).

The space is TaskSet's own sampling distribution: learning rate, epsilon, l1, l2 and the two
decays log-uniform; the betas enter as ``1 - beta`` on a log scale (``one_minus_beta1``,
``one_minus_beta2``), because what matters about a beta near 1 is its distance from 1, and
nearest-neighbour lookup in a linear beta would merge 0.999 with 0.99999.

Meta-features come from the task's name, known before searching: patch length, units, batch
size, embedding, pooling and the recurrent cell kind.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from metasearch.families import BenchmarkDataError, LookupTable, TabularFamily, register_family
from metasearch.families._benchmarks import find_data
from metasearch.spaces import Float, SearchSpace

SOURCE = ("TaskSet (Metz et al., 2020) as published by github.com/releaunifreiburg/DPL "
          "(one JSON file per task), in a folder taskset/")
CURVE_LENGTH = 51
# TaskSet's sampling ranges (Metz et al., 2020, appendix); bounds of the space.
LOG_RANGES = {"learning_rate": (1e-8, 10.0), "one_minus_beta1": (1e-4, 1.0),
              "one_minus_beta2": (1e-6, 1.0), "epsilon": (1e-10, 1e3), "l1": (1e-8, 10.0),
              "l2": (1e-8, 10.0), "linear_decay": (1e-7, 1e-4),
              "exponential_decay": (1e-6, 1e-3)}
CELLS = ("LSTM", "GRU", "IRNN", "VRNN")


def _has_json(path: Path) -> bool:
    return path.suffix == ".json" if path.is_file() else any(path.glob("*.json"))


def _config(hp: Any, path: Path, row: int) -> dict[str, float]:
    try:
        raw = {k: float(hp[k]) for k in ("learning_rate", "beta1", "beta2", "epsilon", "l1",
                                        "l2", "linear_decay", "exponential_decay")}
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: run {row}: malformed 'hp' ({exc!r})") from exc
    raw["one_minus_beta1"] = 1.0 - raw.pop("beta1")
    raw["one_minus_beta2"] = 1.0 - raw.pop("beta2")
    for name, (low, high) in LOG_RANGES.items():  # float rounding at the edges
        raw[name] = min(high, max(low, raw[name])) if low / 2 < raw[name] < high * 2 else raw[name]
    return raw


def _curve(run: Any, split: str, path: Path, row: int) -> list[float]:
    try:
        values = [math.nan if v is None else float(v) for v in run[split]["loss"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: run {row}: malformed {split!r} loss ({exc!r})") from exc
    if len(values) != CURVE_LENGTH:
        raise BenchmarkDataError(f"{path}: run {row}: {split} loss has {len(values)} points, "
                                 f"expected {CURVE_LENGTH}")
    return values


@cache
def _read(path: Path) -> tuple[list[dict[str, float]], np.ndarray, np.ndarray]:
    """Configurations, valid and test loss curves of one task file (parsed once per process)."""
    try:
        runs = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: cannot be read as JSON: {exc}") from exc
    if not isinstance(runs, list) or not runs:
        raise BenchmarkDataError(f"{path}: expected a non-empty JSON list of runs")
    configs = [_config(run.get("hp") if isinstance(run, dict) else None, path, i)
               for i, run in enumerate(runs)]
    valid = np.array([_curve(run, "valid", path, i) for i, run in enumerate(runs)])
    test = np.array([_curve(run, "test", path, i) for i, run in enumerate(runs)])
    return configs, valid, test


@register_family
class TaskSetFamily(TabularFamily):
    """TaskSet optimizer-hyperparameter curves (Metz et al., 2020); see the module docstring."""

    name = "taskset"
    description = "TaskSet: Adam hyperparameters of RNN text classifiers (public data, lookup)"
    metric = "valid_loss"
    direction = "minimize"
    max_budget = CURVE_LENGTH

    def build_space(self) -> SearchSpace:
        return SearchSpace(params=tuple(Float(name, low, high, log=True)
                                        for name, (low, high) in LOG_RANGES.items()))

    def _files(self) -> dict[str, Path]:
        where = find_data(self.name, "taskset", _has_json, SOURCE)
        files = [where] if where.is_file() else sorted(where.glob("*.json"))
        return {path.stem: path.resolve() for path in files}

    def task_ids(self) -> list[str]:
        return list(self._files())

    def load_table(self, task_id: str) -> LookupTable:
        path = self._files()[task_id]
        configs, valid, test = _read(path)
        try:
            return LookupTable.build(self.space, configs, valid, tests=test)
        except ValueError as exc:  # a hyperparameter outside TaskSet's ranges
            raise BenchmarkDataError(f"{path}: {exc}") from exc

    def task_meta_features(self, task_id: str) -> dict[str, float]:
        features: dict[str, float] = {}
        for key, pattern in (("log2_patch", r"patch(\d+)"), ("log2_batch_size", r"bs(\d+)"),
                             ("log2_units", r"(?:" + "|".join(CELLS) + r")(\d+)")):
            found = re.search(pattern, task_id)
            if found:
                features[key] = math.log2(float(found.group(1)))
        for cell in CELLS:
            features[f"cell_{cell.lower()}"] = float(bool(re.search(rf"_{cell}\d", task_id)))
        features["embedding"] = float(bool(re.search(r"_(embed|E)\d+", task_id)))
        features["avg_pooling"] = float("_avg" in task_id)
        return features
