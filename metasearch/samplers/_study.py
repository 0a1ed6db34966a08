"""Run an Optuna study on one task of a family: the engine behind ``metasearch run``.

The objective asks the trial for a configuration define-by-run, trains it, reports every epoch
so a pruner can stop it, and records what the warehouse needs (curve, test value, cost, device,
failure reason) as user attributes, so that any Optuna storage holds the whole trial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metasearch.errors import MetasearchError, redact_url
from metasearch.evaluation import EvalResult
from metasearch.samplers._methods import SAMPLERS, SearchInputs, build_sampler

if TYPE_CHECKING:
    import optuna

    from metasearch.families import Task

__all__ = [
    "ResultHook",
    "TaskObjective",
    "create_task_study",
    "make_sampler",
    "sampler_names",
]

ResultHook = Callable[["optuna.trial.Trial", EvalResult], None]
"""Called once per finished trial (complete, failed or pruned) with its result."""


def sampler_names() -> list[str]:
    """The cold-start samplers of the registry (:data:`~metasearch.samplers.SAMPLERS`)."""
    return [name for name in SAMPLERS if name != "meta"]


def make_sampler(name: str, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """A seeded cold-start Optuna sampler by name (``tpe``, ``random``, ``gp``, ``cmaes``)."""
    if name not in sampler_names():
        raise MetasearchError(f"unknown sampler {name!r}: expected one of "
                              f"{', '.join(sampler_names())}")
    return build_sampler(name, SearchInputs(seed=seed))


@dataclass
class TaskObjective:
    """An Optuna objective that evaluates configurations of one task.

    Args:
        task: the task to evaluate on.
        budget: epochs per trial (default: the family's full budget).
        device: where to train.
        seed: the base seed; trial ``n`` trains with ``seed + n`` so reruns are reproducible.
        hooks: called with every finished trial's :class:`EvalResult`.
        share_shape: in :meth:`optimize_batched`, the first trial of each batch is sampled
            freely and the others with its :meth:`Task.batch_params` (architecture, batch
            size, optimizer) fixed, so the batch trains as one stack; learning rate, weight
            decay and the rest are still searched per trial. Off by default, since it changes
            what the sampler explores (a batch spends K trials on one shape).
    """

    task: Task
    budget: int | None = None
    device: str = "auto"
    seed: int = 0
    hooks: list[ResultHook] = field(default_factory=list)
    share_shape: bool = False

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        config = self.task.family.space.suggest(trial)
        seen: list[float] = []
        start = time.perf_counter()
        try:
            result = self.task.evaluate(
                config, self.budget, device=self.device, seed=self.seed + trial.number,
                report=_reporter(trial, seen),
            )
        except optuna.TrialPruned:
            spent = time.perf_counter() - start
            self._finish(trial, self._pruned_result(config, seen, trial.number, spent))
            raise
        self._finish(trial, result)
        # NaN makes Optuna record the trial as FAIL, as the warehouse does.
        if result.status == "failed" or result.final_value is None:
            return math.nan
        return result.final_value

    def optimize_batched(self, study: optuna.Study, n_trials: int, batch: int) -> None:
        """Run ``n_trials`` trials in ``study``, asking and training ``batch`` at a time.

        The batched counterpart of ``study.optimize(self, n_trials)``: each round asks
        ``batch`` trials, trains their configurations through :meth:`Task.evaluate_batch`
        (stacked where their shapes allow), and tells each result. Each trial reports every
        epoch and is pruned alone, and gets the same user attributes and hooks as a trial run
        by :meth:`__call__`; trial ``n`` trains with ``seed + n`` here too. Several workers
        (one per GPU, each with its own ``CUDA_VISIBLE_DEVICES``) can share one study through
        an RDB storage, as with ``optimize``.
        """
        if batch < 1:
            raise MetasearchError(f"batch={batch} must be at least 1")
        for start in range(0, n_trials, batch):
            self._run_batch(study, min(batch, n_trials - start))

    def _run_batch(self, study: optuna.Study, n_trials: int) -> None:
        import optuna
        from optuna.trial import TrialState

        trials: list[optuna.Trial] = []
        configs: list[dict[str, Any]] = []
        told: set[int] = set()
        try:
            for _ in range(n_trials):
                with self._shape_of(study, trials[0] if trials else None):
                    trials.append(study.ask())
                    configs.append(self.task.family.space.suggest(trials[-1]))
            results = self.task.evaluate_batch(
                configs, self.budget, device=self.device,
                seeds=[self.seed + trial.number for trial in trials],
                reports=[_reporter(trial, []) for trial in trials],
                stop_on=(optuna.TrialPruned,),
            )
            for trial, result in zip(trials, results, strict=True):
                self._finish(trial, result)
                told.add(trial.number)
                if result.status == "pruned":
                    study.tell(trial, state=TrialState.PRUNED)
                elif result.status == "failed" or result.final_value is None:
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, result.final_value)
        finally:  # an error ends the trials still running as failed, as optimize() does
            for trial in trials:
                if trial.number not in told:
                    study.tell(trial, state=TrialState.FAIL)

    @contextmanager
    def _shape_of(self, study: optuna.Study, first: optuna.Trial | None) -> Iterator[None]:
        """With ``share_shape``, trials asked and suggested inside keep ``first``'s batch
        parameters (a trial consults ``study.sampler`` at every suggestion, not only at ask)."""
        import warnings

        import optuna

        fixed = {} if first is None or not self.share_shape else {
            name: first.params[name] for name in self.task.batch_params() if name in first.params
        }
        if not fixed:
            yield
            return
        sampler = study.sampler
        with warnings.catch_warnings():  # PartialFixedSampler is flagged experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.PartialFixedSampler(fixed, sampler)
        try:
            yield
        finally:
            study.sampler = sampler

    def _pruned_result(self, config: dict[str, Any], seen: list[float], number: int,
                       seconds: float) -> EvalResult:
        """A pruned trial's result: its curve so far and the ``seconds`` its training took
        until the pruner stopped it (as a completed trial's cost, without the sampler's)."""
        budget = self.budget or self.task.family.max_budget
        return EvalResult(
            config=self.task.family.space.validate(config), curve=tuple(seen), elapsed=(),
            final_value=seen[-1] if seen else None, test_value=None, cost_s=seconds,
            status="pruned", failure_reason=None, device=self.device,
            seed=self.seed + number, budget=budget,
        )

    def _finish(self, trial: optuna.Trial, result: EvalResult) -> None:
        trial.set_user_attr("metasearch_config", result.config)
        trial.set_user_attr("test_value", result.test_value)
        trial.set_user_attr("cost_s", None if math.isnan(result.cost_s) else result.cost_s)
        trial.set_user_attr("device", result.device)
        trial.set_user_attr("seed", result.seed)
        if result.failure_reason is not None:
            trial.set_user_attr("failure_reason", result.failure_reason)
        for hook in self.hooks:
            hook(trial, result)


def _reporter(trial: optuna.Trial, seen: list[float]) -> Callable[[int, float], None]:
    """The report callback of one trial: report the epoch, and raise if the pruner says so."""

    def report(step: int, value: float) -> None:
        import optuna

        seen.append(value)
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {step} with value {value:.4g}")

    return report


def create_task_study(
    task: Task,
    *,
    sampler: optuna.samplers.BaseSampler,
    storage: str | None = None,
    study_name: str | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create (or join, when it exists in ``storage``) the study for ``task``.

    The family, task and metric are stored as study user attributes, so a study can later be
    ingested into the warehouse without being told what it was.
    """
    import optuna

    # Lazy on purpose, as optuna above: `import metasearch.samplers` loads neither Optuna nor
    # the database layer until a study is made.
    from metasearch.warehouse import open_storage

    study = optuna.create_study(
        storage=open_storage(storage, create=True) if isinstance(storage, str) else storage,
        study_name=study_name,
        sampler=sampler,
        pruner=pruner or optuna.pruners.NopPruner(),
        direction=task.family.direction,
        load_if_exists=True,
    )
    if study.direction != optuna.study.StudyDirection[task.family.direction.upper()]:
        raise MetasearchError(
            f"study {study.study_name!r} in {redact_url(storage)} optimizes "
            f"{study.direction.name.lower()}, "
            f"but family {task.family.name!r} needs {task.family.direction}"
        )
    study.set_user_attr("metasearch_family", task.family.name)
    study.set_user_attr("metasearch_task", task.id)
    study.set_user_attr("metasearch_metric", task.family.metric)
    return study
