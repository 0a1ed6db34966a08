"""The records that go into the warehouse and come out of it: plain frozen dataclasses.

Writers hand the store a :class:`FamilySpec`, a :class:`RunSpec` and :class:`TrialData`; readers
get :class:`FamilyRecord`, :class:`TaskRecord`, :class:`RunRecord`, :class:`TrialRecord` and
:class:`TaskStats` (or DataFrames). No record holds a database handle, so everything downstream
(meta-features, surrogates, reports) can be built and tested without a database.

The records sit below both the store (:mod:`metasearch.warehouse`) and the task families: a
family built from stored records (a replay, a stored family) reads them through
:class:`RecordReader`, which the store satisfies, and so never imports the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from metasearch.errors import WarehouseError
from metasearch.spaces import SearchSpace

if TYPE_CHECKING:
    from metasearch.evaluation import EvalResult

__all__ = [
    "FamilyLike",
    "FamilyRecord",
    "FamilySpec",
    "IngestSummary",
    "RecordReader",
    "RunRecord",
    "RunSpec",
    "TaskRecord",
    "TaskStats",
    "TrialData",
    "TrialRecord",
]

Status = Literal["complete", "failed", "pruned"]
STATUSES: tuple[Status, ...] = ("complete", "failed", "pruned")
FamilySource = Literal["registry", "table", "optuna"]


def dumps(value: Any) -> str:
    """The one JSON encoding the store writes: compact, sorted keys, NaN allowed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def loads(text: str | None) -> Any:
    """Inverse of :func:`dumps` (None stays None)."""
    return None if text is None else json.loads(text)


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, with None and NaN both stored as NULL."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


class FamilyLike(Protocol):
    """What the store needs of a task family (a registered ``TaskFamily`` has all of it)."""

    @property
    def name(self) -> str: ...

    @property
    def metric(self) -> str: ...

    @property
    def direction(self) -> str: ...

    @property
    def max_budget(self) -> int: ...

    @property
    def space(self) -> SearchSpace: ...


@dataclass(frozen=True)
class FamilySpec:
    """A family as the store keeps it: its identity, metric and search space.

    Attributes:
        name: the family's name, unique in the warehouse.
        metric: what curve values measure.
        direction: ``maximize`` or ``minimize``: which final value is best.
        max_budget: the number of curve steps of a full evaluation, when known.
        space: the search space every stored configuration belongs to.
        source: ``registry`` (a family file), ``table`` or ``optuna`` (inferred on ingest).
    """

    name: str
    metric: str
    direction: str
    max_budget: int | None
    space: SearchSpace
    source: FamilySource = "registry"

    def __post_init__(self) -> None:
        if self.direction not in ("maximize", "minimize"):
            raise WarehouseError(
                f"family {self.name!r}: direction {self.direction!r} must be maximize or minimize"
            )

    @classmethod
    def of(cls, family: FamilyLike) -> FamilySpec:
        """The spec of a registered task family."""
        return cls(family.name, family.metric, family.direction, family.max_budget, family.space)


@dataclass(frozen=True)
class RunSpec:
    """Where a batch of trials came from.

    Attributes:
        source_key: the natural key of the source (a study in a storage, a table file, a build
            of one task); ingesting the same key again adds only trials not yet stored.
        kind: ``run``, ``build``, ``optuna`` or ``table``.
        study: the Optuna study name, when there is one.
        seed: the base seed of the run, when there is one.
        device: the device the run trained on, when known.
        info: anything else worth keeping (sampler name, file name), JSON-ready.
    """

    source_key: str
    kind: str
    study: str | None = None
    seed: int | None = None
    device: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialData:
    """One trial to write: its configuration, outcome and learning curve.

    ``steps`` are the curve's step numbers; None means ``1 .. len(curve)`` (epochs, as
    :class:`~metasearch.evaluation.EvalResult` reports them). ``elapsed`` may be empty when the
    source did not time its steps.
    """

    task: str
    number: int
    config: Mapping[str, Any]
    status: Status
    curve: tuple[float, ...] = ()
    steps: tuple[int, ...] | None = None
    elapsed: tuple[float, ...] = ()
    final_value: float | None = None
    test_value: float | None = None
    cost_s: float | None = None
    failure_reason: str | None = None
    budget: int | None = None
    seed: int | None = None
    device: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise WarehouseError(f"trial {self.number} of {self.task!r}: status {self.status!r}"
                                 f" must be one of {list(STATUSES)}")
        bad = [v for v in self.curve if not math.isfinite(v)]
        if bad:
            raise WarehouseError(f"trial {self.number} of {self.task!r}: curve value {bad[0]} "
                                 "is not finite (end the curve at the last finite step)")
        if self.steps is not None and len(self.steps) != len(self.curve):
            raise WarehouseError(f"trial {self.number} of {self.task!r}: {len(self.steps)} steps"
                                 f" for {len(self.curve)} curve values")
        if self.elapsed and len(self.elapsed) != len(self.curve):
            raise WarehouseError(f"trial {self.number} of {self.task!r}: {len(self.elapsed)} "
                                 f"elapsed times for {len(self.curve)} curve values")

    @classmethod
    def from_result(
        cls, task: str, number: int, result: EvalResult, attrs: Mapping[str, Any] | None = None
    ) -> TrialData:
        """The trial that produced ``result`` (an evaluation or a finished Optuna trial)."""
        return cls(
            task=task, number=number, config=result.config, status=result.status,
            curve=tuple(result.curve), elapsed=tuple(result.elapsed),
            final_value=result.final_value, test_value=result.test_value,
            cost_s=finite_or_none(result.cost_s), failure_reason=result.failure_reason,
            budget=result.budget, seed=result.seed, device=result.device, attrs=attrs or {},
        )

    def points(self) -> list[tuple[int, float, float | None]]:
        """The curve as ``(step, value, elapsed_s)`` triples."""
        steps = self.steps if self.steps is not None else range(1, len(self.curve) + 1)
        elapsed: tuple[float | None, ...] = self.elapsed or (None,) * len(self.curve)
        return list(zip(steps, self.curve, elapsed, strict=True))


@dataclass(frozen=True)
class FamilyRecord:
    """A stored family, with the space its configurations were validated against."""

    name: str
    metric: str
    direction: str
    max_budget: int | None
    source: str
    space: SearchSpace
    fingerprint: str
    created_at: datetime | None


@dataclass(frozen=True)
class TaskRecord:
    """A stored task and its meta-features."""

    family: str
    name: str
    meta_features: Mapping[str, float]


@dataclass(frozen=True)
class RunRecord:
    """A stored run: one source of trials."""

    source_key: str
    kind: str
    family: str
    study: str | None
    seed: int | None
    device: str | None
    package_version: str
    created_at: datetime | None
    info: Mapping[str, Any]


@dataclass(frozen=True)
class TrialRecord:
    """A stored trial with its whole learning curve (``steps``, ``curve``, ``elapsed``)."""

    trial_id: int
    run: str
    task: str
    number: int
    config: Mapping[str, Any]
    status: str
    final_value: float | None
    test_value: float | None
    cost_s: float | None
    failure_reason: str | None
    budget: int | None
    seed: int | None
    device: str | None
    attrs: Mapping[str, Any]
    steps: tuple[int, ...]
    curve: tuple[float, ...]
    elapsed: tuple[float | None, ...]


@dataclass(frozen=True)
class TaskStats:
    """Counts and the best final value of one task."""

    family: str
    task: str
    trials: int
    complete: int
    failed: int
    pruned: int
    curve_points: int
    best_value: float | None


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest wrote: trials added, trials already stored (skipped), points added."""

    source_key: str
    family: str
    added: int
    skipped: int
    points: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {"source_key": self.source_key, "family": self.family, "added": self.added,
                "skipped": self.skipped, "points": self.points}


class RecordReader(Protocol):
    """What reads a family's records back (:class:`~metasearch.warehouse.Warehouse` has it all).

    Families that are built from stored records take one (``resolve_family``,
    ``replay_family``, ``stored_benchmark``) instead of the store, so that the families and the
    warehouse stay independent of each other.
    """

    @property
    def url(self) -> str: ...

    def has_family(self, name: str) -> bool: ...

    def family(self, name: str) -> FamilyRecord: ...

    def families(self) -> Sequence[FamilyRecord]: ...

    def tasks(self, family: str) -> Sequence[TaskRecord]: ...

    def trial_records(self, family: str) -> Sequence[TrialRecord]: ...
