"""``metasearch run`` (an Optuna study on one task) and ``metasearch evaluate`` (one config)."""

from __future__ import annotations

import json
import math
import signal
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from metasearch.cli._output import Output, format_value
from metasearch.errors import MetasearchError
from metasearch.samplers import PRUNERS, SAMPLERS

if TYPE_CHECKING:
    import optuna

    from metasearch.evaluation import EvalResult
    from metasearch.families import Task

FAMILY = typer.Option(..., "--family", "-f", help="Task family (see `metasearch families`).")
TASK = typer.Option(..., "--task", "-t", help="Task id within the family.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps.")
JSON = typer.Option(False, "--json", help="Print one JSON document.")


def _choices(table: Mapping[str, Any]) -> str:
    """An option's help: each registry entry's name and what it is."""
    return "; ".join(f"{name}: {entry.description}" for name, entry in table.items()) + "."


def _resolve(family: str, task: str, device: str, warehouse: str | None) -> Task:
    """Check the family, task and device before any work, so bad input writes nothing.

    A family that exists only in the warehouse (``warehouse``, None: the default one) is
    refused with :class:`~metasearch.families.NoObjectiveError`, which says why it cannot run
    trials and what can use it, rather than as unknown.
    """
    from metasearch.evaluation import check_device
    from metasearch.families import family_names, get_family, resolve_family

    check_device(device)
    if family not in family_names():
        with _open_warehouse(warehouse) as store:
            stored = resolve_family(family, store)
        stored.task(task).prepare()  # a stored task has no objective: always raises
    return get_family(family).task(task)


def run(
    family: str = FAMILY,
    task: str = TASK,
    trials: int = typer.Option(20, "--trials", "-n", min=1, help="Trials to run."),
    sampler: str = typer.Option("tpe", "--sampler", help=_choices(SAMPLERS)),
    pruner: str = typer.Option("none", "--pruner", help=_choices(PRUNERS)),
    model: str | None = typer.Option(None, "--model", help="With --sampler/--pruner meta: the "
                                     "meta-model folder (default: models/FAMILY of the "
                                     "warehouse, else the shipped one)."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL (sqlite:///x.db, postgresql://...)."
    ),
    study: str | None = typer.Option(None, "--study", help="Study name (joined if it exists)."),
    budget: int | None = typer.Option(None, "--budget", min=1, help="Epochs per trial."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler and of training."),
    device: str = DEVICE,
    batch: int = typer.Option(
        1, "--batch", min=1,
        help="Ask this many trials at a time and train them together (stacked where their "
        "shapes allow). One worker per GPU: start one process per CUDA_VISIBLE_DEVICES value "
        "with the same --storage and --study.",
    ),
    share_shape: bool = typer.Option(
        False, "--share-shape",
        help="With --batch: sample each batch's first trial freely and give the others its "
        "architecture, batch size and optimizer, so the batch trains as one stack.",
    ),
    warehouse: str | None = typer.Option(
        None, "--warehouse", "-w", envvar="METASEARCH_WAREHOUSE", show_envvar=True,
        help="Record every trial here: SQLite path or URL (default warehouse/warehouse.db).",
    ),
    no_warehouse: bool = typer.Option(False, "--no-warehouse", help="Record nothing."),
    json_mode: bool = JSON,
) -> None:
    """Run an Optuna study on one task with live progress, and print the best configuration."""
    import optuna

    from metasearch.samplers import TaskObjective, create_task_study

    the_task = _resolve(family, task, device, warehouse)
    chosen, chosen_pruner = _sampler_and_pruner(the_task, sampler, pruner, seed, warehouse,
                                                model, no_warehouse)
    name = study or f"{family}/{task}/{sampler}"
    store = None if no_warehouse else _open_warehouse(warehouse)  # fail before any trial
    # Optuna warns once per failed trial with all its parameters; the progress bar and the
    # summary's failure reasons say the same in a line each.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    the_study = create_task_study(the_task, sampler=chosen, storage=storage, study_name=name,
                                  pruner=chosen_pruner)
    out = Output(json_mode)
    with out.progress(trials, f"{family}/{task}") as bar:
        objective = TaskObjective(the_task, budget=budget, device=device, seed=seed,
                                  share_shape=share_shape)
        if store is not None:
            hook = _recorder(store, the_task, storage, name, sampler, seed, device)
            objective.hooks.append(hook)
        objective.hooks.append(lambda trial, result: _advance(bar, the_study, result))
        with _stop_on_ctrl_c(the_study) as stop:
            try:
                if batch == 1:
                    the_study.optimize(objective, n_trials=trials)
                else:
                    objective.optimize_batched(the_study, trials, batch)
            except KeyboardInterrupt:
                stop.requested = True  # a second Ctrl-C (or batches): the trial in flight is lost
            finally:
                if store is not None:
                    store.close()
    _print_study(out, the_study, the_task)
    if stop.requested:
        typer.echo("interrupted: the summary above covers the trials that finished (each "
                   "is stored)", err=True)
        raise typer.Exit(130)


@dataclass
class _Stop:
    requested: bool = False


@contextmanager
def _stop_on_ctrl_c(study: optuna.Study) -> Iterator[_Stop]:
    """The first Ctrl-C stops the study after the trial in flight (which finishes and is
    stored); a second one interrupts at once. Outside the main thread, Ctrl-C is untouched."""
    stop = _Stop()

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        typer.echo("stopping after the trial in flight (Ctrl-C again to stop now)", err=True)
        try:
            study.stop()
        except RuntimeError:  # not inside optimize (batches ask and tell): stop now
            raise KeyboardInterrupt from None

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _sampler_and_pruner(task: Task, sampler: str, pruner: str, seed: int,
                        warehouse: str | None, model: str | None, no_warehouse: bool
                        ) -> tuple[Any, Any]:
    """The study's sampler and pruner from the registry; ``meta`` ones read the family's
    meta-model (loaded once for both)."""
    from metasearch.samplers import (
        PRUNERS,
        SAMPLERS,
        SearchInputs,
        build_pruner,
        build_sampler,
        lookup,
    )

    lookup(SAMPLERS, sampler, "sampler")
    lookup(PRUNERS, pruner, "pruner")
    if model is not None and "meta" not in (sampler, pruner):
        raise MetasearchError("--model is for --sampler meta or --pruner meta")
    meta_model = None
    if "meta" in (sampler, pruner):
        from metasearch.samplers._meta_loading import resolve_model

        where = None if no_warehouse else warehouse
        meta_model = resolve_model(where, task.family.name, model)
    inputs = SearchInputs(seed=seed, model=meta_model, task_features=task.meta_features,
                          choices=task.configurations())
    return build_sampler(sampler, inputs), build_pruner(pruner, inputs)


def _open_warehouse(where: str | None) -> Any:
    from metasearch.warehouse import Warehouse

    return Warehouse.open(where)


def _recorder(store: Any, task: Task, storage: str | None, study: str, sampler: str, seed: int,
              device: str) -> Any:
    """The hook that writes each finished trial to the warehouse as it finishes."""
    from metasearch.warehouse import RunSpec, WarehouseRecorder, run_source_key

    run = RunSpec(run_source_key(storage, study), "run", study=study, seed=seed, device=device,
                  info={"sampler": sampler})
    return WarehouseRecorder(store, task.family, task.id, run, meta_features=task.meta_features)


def _advance(bar: Any, study: optuna.Study, result: EvalResult) -> None:
    try:
        best = f"best {study.best_value:.4g}"
    except ValueError:  # no completed trial yet
        best = "no trial complete yet"
    bar.update(bar.task_ids[0], advance=1, status=f"{result.status}, {best}")


def _print_study(out: Output, study: optuna.Study, task: Task) -> None:
    from optuna.trial import TrialState

    counts = {s.name.lower(): 0 for s in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] += 1
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    states = {k: v for k, v in counts.items() if v}
    reasons = Counter(
        str(t.user_attrs["failure_reason"]).split(" at ")[0]
        for t in study.get_trials(deepcopy=False) if "failure_reason" in t.user_attrs
    )
    best_config: dict[str, Any] = best.user_attrs.get("metasearch_config", {}) if best else {}
    summary: dict[str, Any] = {
        "family": task.family.name,
        "task": task.id,
        "study": study.study_name,
        "direction": task.family.direction,
        "metric": task.family.metric,
        "trials": states,
        "failure_reasons": dict(reasons),
        "best_value": best.value if best else None,
        "best_trial": best.number if best else None,
        "best_config": best_config or None,
        "best_test_value": best.user_attrs.get("test_value") if best else None,
    }
    if out.json_mode:
        out.json(summary)
        return
    out.line(f"study {study.study_name!r}: " + ", ".join(f"{v} {k}" for k, v in states.items()))
    for reason, count in reasons.most_common(3):
        out.line(f"  {count} failed: {reason}")
    if best is None:
        out.line("no trial completed")
        return
    out.line(f"best {task.family.metric} = {format_value(best.value)} (trial {best.number}, "
             f"test {format_value(summary['best_test_value'])})")
    out.table("best configuration", ["parameter", "value"], list(best_config.items()))


def evaluate(
    family: str = FAMILY,
    task: str = TASK,
    config: str = typer.Option(..., "--config", "-c", help="The configuration as JSON."),
    budget: int | None = typer.Option(None, "--budget", min=1, help="Epochs."),
    seed: int = typer.Option(0, "--seed", help="Training seed."),
    device: str = DEVICE,
    json_mode: bool = JSON,
) -> None:
    """Train one configuration on one task and print its learning curve."""
    the_task = _resolve(family, task, device, None)
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as exc:
        raise MetasearchError(f"--config is not valid JSON ({exc.msg}): {config[:200]!r}"
                              ) from exc
    except RecursionError as exc:
        raise MetasearchError("--config is JSON nested too deeply to read") from exc
    if not isinstance(parsed, dict):
        raise MetasearchError(f"--config must be a JSON object, got {config!r}")
    result = the_task.evaluate(parsed, budget, device=device, seed=seed)
    out = Output(json_mode)
    if json_mode:
        out.json({"family": family, "task": task, **result.to_dict()})
        return
    rows = [[step, value, seconds] for step, (value, seconds)
            in enumerate(zip(result.curve, result.elapsed, strict=True), start=1)]
    out.table(f"{family}/{task}: {the_task.family.metric} per epoch",
              ["epoch", "value", "seconds"], rows)
    reason = f" ({result.failure_reason})" if result.failure_reason else ""
    cost = "nan" if math.isnan(result.cost_s) else f"{result.cost_s:.2f}s"
    out.line(f"{result.status}{reason}: final {format_value(result.final_value)}, "
             f"test {format_value(result.test_value)}, {cost} on {result.device}")
