"""A family that exists only in the warehouse: a user's past Optuna studies or results table.

Its space, metric, direction, tasks and meta-features are the warehouse's record of it, so
meta-train, MetaSampler, MetaPruner, suggest and compare serve it as they serve a family file.
What it lacks is an objective: it cannot run a new trial (a family file adds exactly that), and
evaluating one of its tasks says so. compare searches such a family through a replay of its
table or a surrogate of each task's trials instead (see :mod:`metasearch.compare`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metasearch.errors import MetasearchError
from metasearch.evaluation import CurveRecorder
from metasearch.families._base import Task, TaskFamily
from metasearch.families._surrogate import surrogate_from_records
from metasearch.families._tabular import replay_from_records
from metasearch.records import FamilyRecord, RecordReader, TaskRecord
from metasearch.spaces import SearchSpace

__all__ = ["NoObjectiveError", "StoredFamily", "StoredTask", "stored_benchmark", "stored_family"]


class NoObjectiveError(MetasearchError):
    """A new trial of a family that exists only in the warehouse (it has no objective)."""


class StoredTask(Task):
    """A stored task: its meta-features as stored; evaluating it is refused."""

    family: StoredFamily

    def compute_meta_features(self) -> dict[str, float]:
        return dict(self.family.stored_meta_features.get(self.id, {}))

    def prepare(self) -> None:
        raise NoObjectiveError(
            f"family {self.family.name!r} exists only in the warehouse: it has no objective "
            f"to run a new trial of task {self.id!r} (add a family file with that name to "
            "run trials; meta-train, suggest, MetaSampler and compare need none)")

    def _train(self, config: dict[str, Any], budget: int, device: str, seed: int,
               curve: CurveRecorder) -> float | None:
        self.prepare()
        return None


class StoredFamily(TaskFamily):
    """A family known from the warehouse's record alone (see the module docstring)."""

    uses_torch = False

    def __init__(self, space: SearchSpace, meta_features: Mapping[str, Mapping[str, float]]):
        self._space = space
        self.stored_meta_features = {task: dict(f) for task, f in meta_features.items()}

    def build_space(self) -> SearchSpace:
        return self._space

    def task_ids(self) -> list[str]:
        return sorted(self.stored_meta_features)

    def make_task(self, task_id: str) -> Task:
        return StoredTask(self, task_id)


def stored_family(record: FamilyRecord, tasks: Sequence[TaskRecord]) -> StoredFamily:
    """The stored family ``record`` with its ``tasks``, as a :class:`TaskFamily`."""
    attrs = {"name": record.name, "metric": record.metric, "direction": record.direction,
             "max_budget": record.max_budget or 1,
             "description": f"stored in the warehouse ({record.source})"}
    cls = type(f"Stored[{record.name}]", (StoredFamily,), attrs)
    family: StoredFamily = cls(record.space, {t.name: t.meta_features for t in tasks})
    return family


def stored_benchmark(store: RecordReader, name: str, seed: int = 0) -> TaskFamily:
    """The stored family ``name`` made searchable, for compare, without running anything new.

    Tasks that share their configurations (a results table: the same choices measured on
    every task) are replayed (:func:`~metasearch.families.replay_family`); tasks that each tried
    their own (past studies) are answered by a surrogate fitted to each task's trials
    (:mod:`metasearch.families._surrogate`).

    Raises:
        MetasearchError: the family has no trials, or a task too few for a surrogate.
    """
    record = store.family(name)
    trials = store.trial_records(name)
    try:
        return replay_from_records(record, trials, shared=True)
    except MetasearchError as exc:
        if "share their configurations" not in str(exc):
            raise
    return surrogate_from_records(record, trials, store.tasks(name), seed)
