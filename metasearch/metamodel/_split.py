"""Train / validation / test splits of tasks: explicit, reproducible, saved with every model.

Held-out means held out: a model is meta-trained on the train tasks, early-stopped on the
validation tasks, and never sees the test tasks; comparisons check a loaded model's split
before evaluating it on a task.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError

__all__ = ["TaskSplit"]


@dataclass(frozen=True)
class TaskSplit:
    """Disjoint lists of task ids."""

    train: tuple[str, ...]
    validation: tuple[str, ...] = ()
    test: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for part in ("train", "validation", "test"):
            for task in getattr(self, part):
                if task in seen:
                    raise MetasearchError(
                        f"task {task!r} is in both {seen[task]} and {part}: a split must be "
                        "disjoint"
                    )
                seen[task] = part
        if not self.train:
            raise MetasearchError("a split needs at least one training task")

    @classmethod
    def make(
        cls,
        task_ids: Sequence[str],
        *,
        seed: int = 0,
        validation: float = 0.15,
        test: float = 0.15,
    ) -> TaskSplit:
        """A seeded random split; the same ids and seed give the same split in any order."""
        ids = sorted(set(task_ids))
        if len(ids) < 2:
            raise MetasearchError(f"need at least 2 tasks to split, got {ids}")
        rng = np.random.default_rng(zlib.crc32(f"split/{seed}".encode()))
        order = [ids[i] for i in rng.permutation(len(ids))]
        n_val = max(1, round(validation * len(ids))) if validation > 0 else 0
        n_test = round(test * len(ids)) if test > 0 else 0
        n_test = min(n_test, len(ids) - n_val - 1)
        return cls(
            train=tuple(sorted(order[n_val + n_test:])),
            validation=tuple(sorted(order[:n_val])),
            test=tuple(sorted(order[n_val:n_val + n_test])),
        )

    @property
    def seen(self) -> tuple[str, ...]:
        """The tasks whose trials reach the model: train and validation."""
        return self.train + self.validation

    def check_known(self, known: Iterable[str]) -> None:
        """Refuse a split naming tasks the data does not have."""
        unknown = sorted(set(self.train + self.validation + self.test) - set(known))
        if unknown:
            raise MetasearchError(f"split names unknown tasks {unknown}")

    def check_held_out(self, tasks: Iterable[str]) -> None:
        """Refuse to evaluate on tasks the model saw (train or validation)."""
        leaked = sorted(set(tasks) & set(self.seen))
        if not leaked:
            return
        why = f"tasks {leaked} were used to meta-train this model: they are not held out"
        if not (self.validation or self.test):
            why += ("; it was trained on every task (meta-train's default, a model to use): "
                    "evaluate one made with `meta-train --split heldout` or a split file, or "
                    "let compare meta-train its own (no --model)")
        raise MetasearchError(why)

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "validation": list(self.validation),
                "test": list(self.test)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSplit:
        try:
            return cls(*(tuple(str(t) for t in data.get(part, ()))
                         for part in ("train", "validation", "test")))
        except TypeError as exc:
            raise MetasearchError(f"malformed split {dict(data)!r}: {exc}") from exc

    @classmethod
    def read(cls, path: str | Path) -> TaskSplit:
        """Read a JSON split file ``{"train": [...], "validation": [...], "test": [...]}``."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MetasearchError(f"cannot read split file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise MetasearchError(f"split file {path} must hold a JSON object")
        return cls.from_dict(data)
