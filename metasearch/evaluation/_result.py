"""What one evaluation returns, and the recorder that builds it epoch by epoch."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CurveRecorder", "EvalResult", "ReportFn", "TrialFailed"]

ReportFn = Callable[[int, float], None]
"""``report(step, value)``, called after every epoch; it may raise (e.g. ``optuna.TrialPruned``)
to stop the trial, and the exception propagates to the caller untouched."""

Status = Literal["complete", "failed", "pruned"]


class TrialFailed(Exception):  # noqa: N818 - reads as the event it signals
    """Raised inside a trainer to end a trial as failed (NaN loss, divergence, out of memory).

    The evaluation catches it and returns a failed :class:`EvalResult` with this message as the
    reason; the process and any other trial go on.
    """


@dataclass(frozen=True)
class EvalResult:
    """The outcome of training one configuration of one task.

    Attributes:
        config: the configuration as evaluated (validated; for tabular tasks, the row looked up).
        curve: the validation metric after each epoch (step 1 is ``curve[0]``).
        elapsed: seconds since the start of the trial at each step.
        final_value: the last value of ``curve`` (None if the trial failed before step 1).
        test_value: the metric on the test split after the last epoch, when the task has one.
        cost_s: seconds the whole evaluation took.
        status: ``complete``, ``failed``, or ``pruned`` (stopped early by a pruner).
        failure_reason: why it failed, else None.
        device: the device it ran on.
        seed: the seed it ran with.
        budget: the number of epochs asked for.
    """

    config: dict[str, Any]
    curve: tuple[float, ...]
    elapsed: tuple[float, ...]
    final_value: float | None
    test_value: float | None
    cost_s: float
    status: Status
    failure_reason: str | None
    device: str
    seed: int
    budget: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "config": self.config,
            "curve": list(self.curve),
            "elapsed": list(self.elapsed),
            "final_value": self.final_value,
            "test_value": self.test_value,
            "cost_s": self.cost_s,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "device": self.device,
            "seed": self.seed,
            "budget": self.budget,
        }


@dataclass
class CurveRecorder:
    """Collects a trial's curve, checks every value and forwards it to ``report``.

    Trainers call :meth:`step` once per epoch with the validation metric.
    """

    report: ReportFn | None = None
    start: float = field(default_factory=time.perf_counter)
    values: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)

    def step(self, value: float) -> None:
        """Record the next epoch's value; a non-finite value fails the trial."""
        value = float(value)
        if not math.isfinite(value):
            raise TrialFailed(f"metric is {value} at epoch {len(self.values) + 1}")
        self.values.append(value)
        self.elapsed.append(time.perf_counter() - self.start)
        if self.report is not None:
            self.report(len(self.values), value)

    def seconds(self) -> float:
        """Seconds since the recorder was made."""
        return time.perf_counter() - self.start
