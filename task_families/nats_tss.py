"""``nats-tss``: NAS-Bench-201 / NATS-Bench topology cells looked up in a table of results.

The data is the benchmark's, never copied here: a CSV with an ``arch`` column of NAS-Bench-201
strings and one numeric column per data set (the shared file: CIFAR-10 and CIFAR-100 test
accuracy after 200 epochs). Every numeric column of every ``*.csv`` in the data folder is a
task, so a wider table, or another file in the same format, adds tasks with no code change.

Evaluation is a lookup (:mod:`metasearch.families._tabular`): cells of one network class
(isomorphic, or differing only on edges cut off by ``none``) encode alike, so they share one
result, the mean of their tabulated values. The table holds final accuracies only, so a
trial's curve is one step (``max_budget = 1``).

Meta-features are what is known before searching: the number of classes, read from the data
set's name where it ends in one (``cifar10``, ``cifar100``, ``ImageNet16-120``); never
statistics of the task's own results, which would leak the answer.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

import numpy as np

from metasearch.families import BenchmarkDataError, LookupTable, TabularFamily, register_family
from metasearch.families._benchmarks import find_data
from metasearch.spaces import CellSpace, SearchSpace

SOURCE = ("NATS-Bench (Dong et al., TPAMI 2021); the table nats_tss_cifar.csv of "
          "github.com/v-tao/nats-bench-landscape, in a folder nats_tss/")
ARCH = "arch"


def _has_csv(path: Path) -> bool:
    return path.suffix == ".csv" if path.is_file() else any(path.glob("*.csv"))


@cache
def _read_columns(path: Path) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Task column -> (arch strings, values) of one CSV file (parsed once per process)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: cannot be read as a CSV table: {exc}") from exc
    if ARCH not in frame.columns:
        raise BenchmarkDataError(f"{path}: no {ARCH!r} column (it has {list(frame.columns)})")
    archs = tuple(str(a) for a in frame[ARCH])
    columns = {}
    for name in frame.columns:
        if name == ARCH:
            continue
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values).all():
            raise BenchmarkDataError(f"{path}: column {name!r} holds no numbers")
        columns[str(name)] = (archs, values)
    return columns


@register_family
class NatsTssFamily(TabularFamily):
    """NAS-Bench-201 cells, one task per data-set column (Dong et al., TPAMI 2021)."""

    name = "nats-tss"
    description = "NATS-Bench topology cells: tabulated test accuracy (public data, lookup)"
    metric = "test_accuracy"
    direction = "maximize"
    max_budget = 1

    def build_space(self) -> SearchSpace:
        return SearchSpace(cells=(CellSpace.nb201(),))

    def _files(self) -> list[Path]:
        where = find_data(self.name, "nats_tss", _has_csv, SOURCE)
        return [where] if where.is_file() else sorted(where.glob("*.csv"))

    def _columns(self) -> dict[str, tuple[Path, str]]:
        """Task id -> (file, column)."""
        found: dict[str, tuple[Path, str]] = {}
        for path in self._files():
            for column in _read_columns(path.resolve()):
                if column in found:
                    raise BenchmarkDataError(f"nats-tss: column {column!r} is in both "
                                             f"{found[column][0]} and {path}")
                found[column] = (path.resolve(), column)
        return found

    def task_ids(self) -> list[str]:
        return list(self._columns())

    def load_table(self, task_id: str) -> LookupTable:
        path, column = self._columns()[task_id]
        archs, values = _read_columns(path)[column]
        configs = [{"cell": arch} for arch in archs]
        try:
            return LookupTable.build(self.space, configs, values[:, None])
        except ValueError as exc:
            raise BenchmarkDataError(f"{path}: column {ARCH!r}: {exc}") from exc

    def task_meta_features(self, task_id: str) -> dict[str, float]:
        dataset = re.split(r"_(?:test|valid|train)", task_id)[0]
        found = re.search(r"(\d+)$", dataset)
        if found is None:
            return {}
        return {"n_classes": float(found.group(1)),
                "log_n_classes": math.log(float(found.group(1)))}
