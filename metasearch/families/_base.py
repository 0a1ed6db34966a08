"""The contract of a task family and of its tasks.

A task family is a distribution of related learning tasks that share one search space. A family
file in ``task_families/`` subclasses :class:`TaskFamily` and :class:`Task` and registers the
family with :func:`metasearch.families.register_family`; nothing in ``metasearch/`` changes.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar, Literal

from metasearch.errors import SpaceError, UnknownTaskError
from metasearch.evaluation import (
    CurveRecorder,
    EvalResult,
    ReportFn,
    TrialFailed,
    check_device,
    resolve_device,
)
from metasearch.spaces import SearchSpace

__all__ = ["Task", "TaskFamily"]


class TaskFamily(ABC):
    """A named distribution of related tasks sharing one search space.

    Subclasses set the class attributes and implement :meth:`build_space`, :meth:`task_ids`
    and :meth:`make_task`. Listing a family (its space, ids and meta-features) must stay cheap
    and never import torch; training happens only in :meth:`Task.evaluate`.

    Attributes:
        name: the registry key, e.g. ``tabular-mlp``.
        description: one line for ``metasearch families``.
        metric: what the curve measures, e.g. ``valid_accuracy``.
        direction: ``maximize`` or ``minimize``.
        max_budget: the number of epochs (curve steps) of a full evaluation.
        uses_torch: whether evaluation trains PyTorch models (and so can use a GPU).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    metric: ClassVar[str] = "valid_accuracy"
    direction: ClassVar[Literal["maximize", "minimize"]] = "maximize"
    max_budget: ClassVar[int]
    uses_torch: ClassVar[bool] = True

    @abstractmethod
    def build_space(self) -> SearchSpace:
        """The family's search space (called once, then cached by :attr:`space`)."""

    @abstractmethod
    def task_ids(self) -> list[str]:
        """Every task id of the family, stable across processes and versions."""

    @abstractmethod
    def make_task(self, task_id: str) -> Task:
        """Build the task ``task_id`` (already checked to be one of :meth:`task_ids`)."""

    @cached_property
    def space(self) -> SearchSpace:
        """The family's search space."""
        return self.build_space()

    def task(self, task_id: str) -> Task:
        """The task called ``task_id``.

        Raises:
            UnknownTaskError: naming the id and some valid ones.
        """
        cache: dict[str, Task] = self.__dict__.setdefault("_tasks", {})
        if task_id not in cache:
            ids = self.task_ids()
            if task_id not in ids:
                shown = ", ".join(ids[:8]) + (f", ... ({len(ids)} in all)" if len(ids) > 8 else "")
                raise UnknownTaskError(
                    f"unknown task {task_id!r} in family {self.name!r}: expected one of {shown}"
                )
            cache[task_id] = self.make_task(task_id)
        return cache[task_id]

    def tasks(self) -> Iterator[Task]:
        """Every task of the family, in :meth:`task_ids` order."""
        for task_id in self.task_ids():
            yield self.task(task_id)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: name, metric, direction, budget and space."""
        return {
            "name": self.name,
            "description": self.description,
            "metric": self.metric,
            "direction": self.direction,
            "max_budget": self.max_budget,
            "space": self.space.to_dict(),
            "n_tasks": len(self.task_ids()),
        }


class Task(ABC):
    """One task of a family: meta-features, and evaluation of a configuration.

    Subclasses implement :meth:`compute_meta_features` and :meth:`_train`; :meth:`evaluate`
    wraps the training with what every task needs: validating the configuration and budget,
    resolving the device, timing, recording the curve and turning failures into results.
    """

    def __init__(self, family: TaskFamily, task_id: str) -> None:
        self.family = family
        self.id = task_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.family.name!r}, {self.id!r})"

    @abstractmethod
    def compute_meta_features(self) -> dict[str, float]:
        """Data-set statistics of the task (rows, features, classes, entropy, landmarkers)."""

    @abstractmethod
    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        """Train ``config`` for ``budget`` epochs, calling ``curve.step`` after each.

        Returns:
            The test-split metric of the final model, or None where the task has no test split.

        Raises:
            TrialFailed: for a divergence, NaN loss or out-of-memory, with the reason.
        """

    def prepare(self) -> None:
        """Load what training needs (data, torch) before the timed part of :meth:`evaluate`.

        The default imports torch for families that use it, so a process's first trial does
        not count the import in its cost; families that build data override it and call it.
        """
        if self.family.uses_torch:
            import torch  # noqa: F401

    def configurations(self) -> list[dict[str, Any]] | None:
        """Every configuration the task can evaluate where that is a finite set (a table's
        rows, one per group), else None (the default: the whole space)."""
        return None

    def resolve_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The configuration that will actually be evaluated for the validated ``config``.

        The identity by default. Tabular tasks, which only know the configurations in their
        table, return the nearest tabulated one (see :mod:`metasearch.families._tabular`);
        :meth:`evaluate` trains and reports that configuration, so a result never claims a
        value for a configuration that was not measured.
        """
        return config

    @cached_property
    def meta_features(self) -> dict[str, float]:
        """The task's meta-features (computed once)."""
        return self.compute_meta_features()

    def _budget_and_device(self, budget: int | None, device: str) -> tuple[int, str]:
        """The epochs to train (the full budget when None) and the device, both checked.

        Raises:
            SpaceError: a budget that is not an integer from 1 to the family's.
            DeviceError: the device is malformed or absent.
        """
        steps = self.family.max_budget if budget is None else budget
        if isinstance(steps, bool) or not isinstance(steps, int) or not steps >= 1:
            raise SpaceError(f"budget={budget!r} must be an integer >= 1")
        if steps > self.family.max_budget:
            raise SpaceError(f"budget={budget} exceeds the family's {self.family.max_budget}")
        where = resolve_device(device) if self.family.uses_torch else check_device(device)
        return steps, "cpu" if where == "auto" else where

    def evaluate(
        self,
        config: Mapping[str, Any],
        budget: int | None = None,
        *,
        device: str = "auto",
        seed: int = 0,
        report: ReportFn | None = None,
    ) -> EvalResult:
        """Train ``config`` for ``budget`` epochs (default: the family's full budget).

        Args:
            config: a configuration of the family's space.
            budget: epochs, 1 to ``family.max_budget``.
            device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
            seed: seeds every random number the training draws.
            report: called as ``report(step, value)`` after every epoch; what it raises (an
                Optuna ``TrialPruned``, say) propagates.

        Raises:
            SpaceError: the configuration or budget is outside the space.
            DeviceError: the device is malformed or absent.
        """
        valid = self.resolve_config(self.family.space.validate(config))
        steps, where = self._budget_and_device(budget, device)
        self.prepare()
        curve = CurveRecorder(report)
        try:
            self._refuse_forbidden(valid)
            test_value = self._train(valid, steps, where, seed, curve)
            status, reason = "complete", None
        except TrialFailed as exc:
            test_value, status, reason = None, "failed", str(exc)
        return EvalResult(
            config=valid,
            curve=tuple(curve.values),
            elapsed=tuple(curve.elapsed),
            final_value=curve.values[-1] if curve.values else None,
            test_value=test_value,
            cost_s=curve.seconds(),
            status=status,  # type: ignore[arg-type]
            failure_reason=reason,
            device=where,
            seed=seed,
            budget=steps,
        )

    # -- batched evaluation (HFTA-style; see metasearch.evaluation.batched) ---------------------

    def evaluate_batch(
        self,
        configs: Sequence[Mapping[str, Any]],
        budget: int | None = None,
        *,
        device: str = "auto",
        seeds: Sequence[int],
        reports: Sequence[ReportFn | None] | None = None,
        stop_on: tuple[type[BaseException], ...] = (),
    ) -> list[EvalResult]:
        """Train several configurations together where their shapes allow, each on its own.

        Configurations with the same :meth:`batch_key` train as one stacked program
        (:meth:`_train_batch`); the others one after another. Each keeps its seed, curve and
        fate: ``reports[i]`` is called after each of its epochs, and when it raises one of
        ``stop_on`` (Optuna's ``TrialPruned``, say) only that configuration stops, with status
        ``pruned``; a diverging one fails alone. Anything else a report raises propagates.
        ``cost_s`` and ``elapsed`` are each configuration's share of its group's wall clock.

        Raises:
            SpaceError: a configuration or the budget is outside the space, or
                ``seeds``/``reports`` do not match ``configs`` in length.
            DeviceError: the device is malformed or absent.
        """
        valid = [self.resolve_config(self.family.space.validate(c)) for c in configs]
        calls = list(reports) if reports is not None else [None] * len(valid)
        if not len(seeds) == len(calls) == len(valid):
            raise SpaceError(f"{len(valid)} configs need as many seeds and reports, got "
                             f"{len(seeds)} seeds and {len(calls)} reports")
        steps, where = self._budget_and_device(budget, device)
        self.prepare()
        groups: dict[Hashable, list[int]] = {}
        for index, config in enumerate(valid):
            key = self.batch_key(config) if self.family.space.allows(config) else None
            groups.setdefault(index if key is None else ("batch", key), []).append(index)
        results: dict[int, EvalResult] = {}
        for members in groups.values():
            curves = [CurveRecorder(calls[i]) for i in members]
            if len(members) == 1:
                outcomes = [self._train_one(valid[members[0]], steps, where, seeds[members[0]],
                                            curves[0], stop_on)]
            else:
                outcomes = self._train_batch([valid[i] for i in members], steps, where,
                                             [seeds[i] for i in members], curves, stop_on)
            for i, curve, outcome in zip(members, curves, outcomes, strict=True):
                results[i] = _batch_result(valid[i], steps, where, seeds[i], curve, outcome,
                                           share=len(members))
        return [results[i] for i in range(len(valid))]

    def batch_params(self) -> tuple[str, ...]:
        """The flat (Optuna) parameter names :meth:`batch_key` depends on: a search that fixes
        them across a batch gets one stack (``TaskObjective(share_shape=True)``)."""
        return ()

    def batch_key(self, config: dict[str, Any]) -> Hashable | None:
        """What configurations must share to train as one stack (None: this one cannot).

        The default batches nothing; families with a :meth:`_train_batch` return the
        architecture, batch size and optimizer of ``config``.
        """
        return None

    def _train_batch(
        self, configs: list[dict[str, Any]], budget: int, device: str, seeds: list[int],
        curves: list[CurveRecorder], stop_on: tuple[type[BaseException], ...],
    ) -> list[float | BaseException | None]:
        """Train configurations of one :meth:`batch_key` together.

        Returns:
            Per configuration, its test metric (or None), or the exception that ended it
            (:class:`TrialFailed`, or one of ``stop_on`` raised by its curve's report).
        """
        return [self._train_one(c, budget, device, s, curve, stop_on)
                for c, s, curve in zip(configs, seeds, curves, strict=True)]

    def _refuse_forbidden(self, config: dict[str, Any]) -> None:
        """Fail a configuration the space forbids, unrun: an Optuna sampler (which knows no
        forbidden clauses) proposed it, and the trial's budget is spent as a failure."""
        clause = self.family.space.forbidding(config)
        if clause is not None:
            raise TrialFailed(f"forbidden by the space ({clause.describe()}): not run")

    def _train_one(
        self, config: dict[str, Any], budget: int, device: str, seed: int,
        curve: CurveRecorder, stop_on: tuple[type[BaseException], ...],
    ) -> float | BaseException | None:
        catch: tuple[type[BaseException], ...] = (TrialFailed, *stop_on)
        try:
            self._refuse_forbidden(config)
            return self._train(config, budget, device, seed, curve)
        except catch as exc:
            return exc


def _batch_result(config: dict[str, Any], budget: int, device: str, seed: int,
                  curve: CurveRecorder, outcome: float | BaseException | None, share: int,
                  ) -> EvalResult:
    """One configuration's result from a batch: its curve, its fate and its share of the time."""
    failed = isinstance(outcome, TrialFailed)
    stopped = isinstance(outcome, BaseException) and not failed
    return EvalResult(
        config=config,
        curve=tuple(curve.values),
        elapsed=tuple(t / share for t in curve.elapsed),
        final_value=curve.values[-1] if curve.values else None,
        test_value=None if isinstance(outcome, BaseException) else outcome,
        cost_s=(time.perf_counter() - curve.start) / share,
        status="failed" if failed else "pruned" if stopped else "complete",
        failure_reason=str(outcome) if failed else None,
        device=device,
        seed=seed,
        budget=budget,
    )
