"""Tabular tasks: answering a search from a table of measured results, the same way everywhere.

A tabular task (NATS-Bench, TaskSet, or a warehouse family replayed) only knows the
configurations in its table. Every one of them answers a sampler's suggestion by one rule:

1. the suggestion is validated against the family's space;
2. if it *is* a tabulated configuration, that row group is used;
3. otherwise the nearest tabulated configuration in the space's encoding
   (:meth:`~metasearch.spaces.SearchSpace.encode`: numbers scaled to [0, 1] on their own, log,
   scale, categoricals one-hot, cells by their network class) by Euclidean distance, ties
   broken by table order;
4. the result reports the configuration actually evaluated (``EvalResult.config``), never the
   suggestion, so the warehouse stores only measured configurations.

Rows whose encodings are equal (isomorphic cells, repeated measurements) form one group whose
curve is the step-wise mean of its members that did not fail; a group fails only when all its
members did. A NaN in a curve fails the trial at that step.
"""

from __future__ import annotations

import json
import warnings
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.evaluation import CurveRecorder, TrialFailed
from metasearch.families._base import Task, TaskFamily
from metasearch.records import FamilyRecord, RecordReader, TrialRecord
from metasearch.spaces import SearchSpace

__all__ = [
    "LookupTable",
    "ReplayFamily",
    "TabularFamily",
    "TabularTask",
    "replay_family",
    "replay_from_records",
]


def _key(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


@dataclass(frozen=True)
class LookupTable:
    """Measured curves of configurations, looked up by the module's nearest-neighbour rule.

    Attributes:
        space: the space the configurations belong to.
        configs: one validated configuration per row, in table order.
        curves: ``(rows, steps)`` values; NaN where a curve diverged or was not measured.
        failed: per row, whether it is a failed trial (its NaN is a divergence).
        tests: ``(rows, steps)`` test-split values, or None.
    """

    space: SearchSpace
    configs: tuple[dict[str, Any], ...]
    curves: np.ndarray
    failed: np.ndarray
    tests: np.ndarray | None
    group_of_row: np.ndarray
    group_rows: tuple[int, ...]  # the first row of each group: the configuration reported
    encodings: np.ndarray  # one per group
    exact: Mapping[str, int]  # validated configuration -> group

    @classmethod
    def build(
        cls,
        space: SearchSpace,
        configs: Sequence[Mapping[str, Any]],
        curves: np.ndarray,
        *,
        failed: np.ndarray | None = None,
        tests: np.ndarray | None = None,
    ) -> LookupTable:
        """Validate and encode ``configs`` and group rows that encode alike.

        ``failed`` defaults to "the curve has a NaN".
        """
        curves = np.atleast_2d(np.asarray(curves, dtype=np.float64))
        if len(configs) == 0 or curves.shape[0] != len(configs):
            raise MetasearchError(f"a lookup table needs one curve per configuration, got "
                                  f"{curves.shape[0]} curves for {len(configs)} configurations")
        valid = tuple(space.validate(c) for c in configs)
        encoded = space.encode_many(valid)
        _, first, inverse = np.unique(encoded, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first)  # groups numbered in table order
        renumber = np.empty_like(order)
        renumber[order] = np.arange(len(order))
        group_of_row = renumber[inverse.ravel()]
        exact = {_key(c): int(g) for c, g in zip(valid, group_of_row, strict=True)}
        return cls(space, valid, curves,
                   np.isnan(curves).any(axis=1) if failed is None else np.asarray(failed, bool),
                   None if tests is None else np.atleast_2d(np.asarray(tests, np.float64)),
                   group_of_row, tuple(int(r) for r in first[order]), encoded[first[order]],
                   exact)

    @property
    def n_groups(self) -> int:
        """Distinct tabulated configurations (rows that encode alike count once)."""
        return len(self.group_rows)

    @property
    def steps(self) -> int:
        """The curve length of the table."""
        return int(self.curves.shape[1])

    def lookup(self, config: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """The group answering ``config`` and the configuration reported as evaluated."""
        valid = self.space.validate(config)
        group = self.exact.get(_key(valid))
        if group is not None:
            return group, valid
        distance = ((self.encodings - self.space.encode(valid)) ** 2).sum(axis=1)
        group = int(np.argmin(distance))
        return group, dict(self.configs[self.group_rows[group]])

    def group_curve(self, group: int, values: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        """The group's mean curve over members that did not fail, and whether all failed."""
        table = self.curves if values is None else values
        rows = np.flatnonzero(self.group_of_row == group)
        alive = rows[~self.failed[rows]]
        if len(alive) == 0:
            return table[rows[0]], True
        if len(alive) == 1:
            return table[alive[0]], False
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a step no member measured
            return np.asarray(np.nanmean(table[alive], axis=0)), False

    def replay(self, config: Mapping[str, Any], budget: int, curve: CurveRecorder) -> float | None:
        """Step ``config``'s tabulated curve for ``budget`` steps; return the test value."""
        group, _ = self.lookup(config)
        values, all_failed = self.group_curve(group)
        for step in range(budget):
            value = values[step] if step < len(values) else np.nan
            if np.isnan(value):
                why = "diverged (NaN in the table)" if all_failed else "no tabulated value"
                raise TrialFailed(f"{why} at step {step + 1}")
            curve.step(float(value))
        if self.tests is None:
            return None
        test = self.group_curve(group, self.tests)[0][budget - 1]
        return None if np.isnan(test) else float(test)


class TabularTask(Task):
    """A task answered from its family's :class:`LookupTable` (see the module docstring)."""

    family: TabularFamily

    @property
    def table(self) -> LookupTable:
        """The task's table (loaded once per process by the family)."""
        return self.family.table(self.id)

    def configurations(self) -> list[dict[str, Any]] | None:
        table = self.table
        return [dict(table.configs[row]) for row in table.group_rows]

    def resolve_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return self.table.lookup(config)[1]

    def prepare(self) -> None:
        self.table  # noqa: B018 - load before the timed part of evaluate

    def compute_meta_features(self) -> dict[str, float]:
        return self.family.task_meta_features(self.id)

    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        return self.table.replay(config, budget, curve)


class TabularFamily(TaskFamily):
    """A family whose tasks are tables; subclasses implement :meth:`load_table`."""

    uses_torch = False

    @abstractmethod
    def load_table(self, task_id: str) -> LookupTable:
        """Read task ``task_id``'s table (called once per task and process)."""

    def task_meta_features(self, task_id: str) -> dict[str, float]:
        """What is known of the task before searching it (never its results). Default none."""
        return {}

    def table(self, task_id: str) -> LookupTable:
        """Task ``task_id``'s table, cached."""
        cache: dict[str, LookupTable] = self.__dict__.setdefault("_tables", {})
        if task_id not in cache:
            cache[task_id] = self.load_table(task_id)
        return cache[task_id]

    def make_task(self, task_id: str) -> Task:
        return TabularTask(self, task_id)


class ReplayFamily(TabularFamily):
    """A warehouse family searched by replaying its stored trials (see :func:`replay_family`)."""

    def __init__(self, space: SearchSpace, tables: Mapping[str, LookupTable]) -> None:
        self._space = space
        self._tables_by_task = dict(tables)

    def build_space(self) -> SearchSpace:
        return self._space

    def task_ids(self) -> list[str]:
        return sorted(self._tables_by_task)

    def load_table(self, task_id: str) -> LookupTable:
        return self._tables_by_task[task_id]


def replay_family(store: RecordReader, name: str, *, shared: bool = True) -> ReplayFamily:
    """The stored family ``name`` as a tabular family: each task replays its stored trials.

    Complete and failed trials are tabulated (pruned ones too, their curves ending early);
    each task answers suggestions by the module's lookup rule.

    Raises:
        MetasearchError: with ``shared``, when two tasks' configurations differ.
    """
    return replay_from_records(store.family(name), store.trial_records(name), shared=shared)


def replay_from_records(
    record: FamilyRecord, trials: Sequence[TrialRecord], *, shared: bool = True
) -> ReplayFamily:
    """:func:`replay_family` from records already read (no warehouse handle)."""
    by_task: dict[str, list[TrialRecord]] = {}
    for trial in trials:
        by_task.setdefault(trial.task, []).append(trial)
    if not by_task:
        raise MetasearchError(f"family {record.name!r} has no stored trials to replay")
    steps = max([record.max_budget or 1, *(len(t.curve) for t in trials)])
    tables = {task: _table_of(record.space, rows, steps) for task, rows in by_task.items()}
    if shared:
        first, *others = sorted(tables)
        known = set(tables[first].exact)
        for task in others:
            if set(tables[task].exact) != known:
                raise MetasearchError(
                    f"family {record.name!r}: task {task!r} has {len(tables[task].exact)} "
                    f"configurations, not the {len(known)} of task {first!r}: replay needs "
                    "tasks that share their configurations")
    attrs = {"name": record.name, "description": f"replay of the stored {record.name}",
             "metric": record.metric, "direction": record.direction, "max_budget": steps}
    cls = type(f"Replay[{record.name}]", (ReplayFamily,), attrs)
    family: ReplayFamily = cls(record.space, tables)
    return family


def _table_of(space: SearchSpace, trials: Sequence[TrialRecord], steps: int) -> LookupTable:
    """The trials' curves by position (their points in step order, whatever the steps: a
    table's may start at 0), as MetaPruner reads a running trial's reports."""
    curves = np.full((len(trials), steps), np.nan)
    for row, trial in enumerate(trials):
        points = trial.curve[:steps]
        curves[row, :len(points)] = points
    failed = np.array([t.status == "failed" for t in trials])
    return LookupTable.build(space, [t.config for t in trials], curves, failed=failed)
