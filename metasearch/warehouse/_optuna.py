"""Importing an existing Optuna study: params, values, states, curves and user attributes.

The importer is the one module of the warehouse that speaks Optuna, and it imports Optuna only
when it runs. A study is named by its storage (an RDB URL, or the path of a journal file) and
its name; its trials are keyed by trial number under the source key
``optuna:<storage>#<study>``, the same key ``metasearch run`` writes under, so importing a
study that ``metasearch run`` already recorded adds nothing, and re-importing a study that has
run on adds only its new trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metasearch.errors import SpaceError, WarehouseError
from metasearch.spaces import Categorical, Float, Hyperparameter, Int, SearchSpace
from metasearch.warehouse._records import FamilyLike, FamilySpec, RunSpec, TrialData

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = [
    "load_study",
    "optuna_source_key",
    "run_of",
    "space_of_distributions",
    "storage_label",
    "study_family",
    "study_to_trials",
]

# User attributes that TaskObjective sets and that map to trial columns.
_MAPPED = ("metasearch_config", "test_value", "cost_s", "device", "seed", "failure_reason")


def storage_label(storage: str) -> str:
    """A storage as a stable name: password hidden, SQLite and journal paths absolute."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in storage:
        return f"journal:{Path(storage).expanduser().resolve()}"
    try:
        url = make_url(storage)
    except ArgumentError:
        return storage
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return url.render_as_string(hide_password=True)


def optuna_source_key(storage: str, study: str) -> str:
    """The source key of a study: ``optuna:<storage label>#<study name>``."""
    return f"optuna:{storage_label(storage)}#{study}"


def load_study(storage: str, study: str) -> optuna.Study:
    """Load ``study`` from an RDB URL or a journal file, without creating anything."""
    import optuna

    target: str | optuna.storages.BaseStorage = storage
    if "://" not in storage:
        if not Path(storage).expanduser().is_file():
            raise WarehouseError(f"no Optuna journal file at {storage!r} (or give a URL)")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        target = JournalStorage(JournalFileBackend(str(Path(storage).expanduser())))
    elif storage.startswith("sqlite:///"):
        path = Path(storage.removeprefix("sqlite:///").split("?")[0]).expanduser()
        if not path.is_file():
            raise WarehouseError(f"no Optuna storage file at {str(path)!r}")
    try:
        # A sampler that costs nothing to build: the study is only read.
        return optuna.load_study(study_name=study, storage=target,
                                 sampler=optuna.samplers.RandomSampler())
    except KeyError as exc:
        names = optuna.get_all_study_names(storage=target)
        raise WarehouseError(f"no study {study!r} in {storage}: it has "
                             + (", ".join(names) if names else "no study")) from exc
    except Exception as exc:  # a bad URL, an unreachable server, not an Optuna database
        raise WarehouseError(f"cannot read Optuna storage {storage}: {exc}") from exc


def _hyperparameter(name: str, dist: Any) -> Hyperparameter:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, FloatDistribution):
        return Float(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, IntDistribution):
        return Int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, CategoricalDistribution):
        return Categorical(name, tuple(dist.choices))
    raise WarehouseError(f"parameter {name!r}: unsupported Optuna distribution {dist!r}")


def _widen(a: Hyperparameter, b: Hyperparameter) -> Hyperparameter:
    """The hyperparameter covering both (a study may change a range between trials)."""
    if isinstance(a, Categorical) and isinstance(b, Categorical):
        extra = tuple(c for c in b.choices if c not in a.choices)
        return Categorical(a.name, a.choices + extra)
    if isinstance(a, Int) and isinstance(b, Int) and (a.log, a.step) == (b.log, b.step):
        return Int(a.name, min(a.low, b.low), max(a.high, b.high), log=a.log, step=a.step)
    if isinstance(a, Float) and isinstance(b, Float) and a.log == b.log:
        return Float(a.name, min(a.low, b.low), max(a.high, b.high), log=a.log)
    raise WarehouseError(f"parameter {a.name!r} changes kind between trials: {a} and {b}")


def space_of_distributions(trials: Sequence[FrozenTrial]) -> SearchSpace:
    """The space of a study whose family is not registered: its trials' distributions.

    Raises:
        WarehouseError: a parameter is absent from some trial (conditional), or changes kind.
    """
    params: dict[str, Hyperparameter] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            here = _hyperparameter(name, dist)
            params[name] = _widen(params[name], here) if name in params else here
    for trial in trials:
        missing = sorted(set(params) - set(trial.params))
        if missing:
            raise WarehouseError(
                f"trial {trial.number} lacks parameter(s) {missing}: a family inferred from a "
                "study needs every parameter in every trial; register the family (a file in "
                "task_families/) to import a conditional space"
            )
    return SearchSpace(tuple(params[name] for name in sorted(params)))


def _config(trial: FrozenTrial, space: SearchSpace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trial's configuration in ``space``, and its parameters outside the space."""
    given = trial.user_attrs.get("metasearch_config")
    if isinstance(given, Mapping):
        try:
            return space.validate(given), {}
        except SpaceError:
            pass  # fall back to the parameters
    flat = set(space.distributions())
    inside = {k: v for k, v in trial.params.items() if k in flat}
    outside = {k: v for k, v in trial.params.items() if k not in flat}
    try:
        return space.unflatten(inside), outside
    except SpaceError as exc:
        raise WarehouseError(f"trial {trial.number}: its parameters do not fit the family's "
                             f"space: {exc}") from exc


def _trial(trial: FrozenTrial, task: str, space: SearchSpace) -> TrialData:
    from optuna.trial import TrialState

    status = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed",
              TrialState.PRUNED: "pruned"}[trial.state]
    if trial.user_attrs.get("failure_reason") is not None:
        # TaskObjective reports a trial that failed after some epochs as COMPLETE with its
        # last value (so samplers learn the region is bad); the warehouse keeps it as failed.
        status = "failed"
    config, outside = _config(trial, space)
    points = sorted((s, v) for s, v in trial.intermediate_values.items() if math.isfinite(v))
    attrs = {k: v for k, v in trial.user_attrs.items() if k not in _MAPPED}
    if outside:
        attrs["params_outside_space"] = outside
    started, ended = trial.datetime_start, trial.datetime_complete
    cost = trial.user_attrs.get("cost_s")
    if cost is None and started is not None and ended is not None:
        cost = (ended - started).total_seconds()
    value = trial.value if trial.state == TrialState.COMPLETE else (
        points[-1][1] if points else None)
    user = trial.user_attrs
    return TrialData(
        task=task, number=trial.number, config=config, status=status,  # type: ignore[arg-type]
        curve=tuple(float(v) for _, v in points), steps=tuple(int(s) for s, _ in points),
        final_value=value, test_value=user.get("test_value"), cost_s=cost,
        failure_reason=user.get("failure_reason"), seed=user.get("seed"),
        device=user.get("device"), attrs=attrs,
    )


def study_to_trials(
    study: optuna.Study, task: str, space: SearchSpace | None
) -> tuple[list[TrialData], SearchSpace, int]:
    """The finished trials of ``study`` (and the space, inferred when None; and how many
    trials were skipped because they are still running or waiting)."""
    from optuna.trial import TrialState

    if len(study.directions) != 1:
        raise WarehouseError(f"study {study.study_name!r} has {len(study.directions)} "
                             "objectives; the warehouse stores single-objective trials")
    finished = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
    all_trials = study.get_trials(deepcopy=False)
    done = [t for t in all_trials if t.state in finished]
    space = space if space is not None else space_of_distributions(done)
    return [_trial(t, task, space) for t in done], space, len(all_trials) - len(done)


def study_family(
    study: optuna.Study,
    family: FamilyLike | str | None,
    stored: FamilySpec | None,
    trials_space: SearchSpace | None,
    max_step: int | None,
) -> FamilySpec:
    """The family to file the study under (registered, stored, or inferred from the study)."""
    direction = study.direction.name.lower()
    if family is not None and not isinstance(family, str):
        spec = FamilySpec.of(family)
    elif stored is not None:
        spec = stored
    else:
        name = family or study.user_attrs.get("metasearch_family")
        if not name or trials_space is None:
            raise WarehouseError(f"study {study.study_name!r} names no family: give --family")
        metric = str(study.user_attrs.get("metasearch_metric", "value"))
        spec = FamilySpec(name, metric, direction, max_step, trials_space, source="optuna")
    if spec.direction != direction:
        raise WarehouseError(f"study {study.study_name!r} {direction}s, but family "
                             f"{spec.name!r} is to {spec.direction}")
    return spec


def run_of(storage: str, study: optuna.Study, source_key: str | None) -> RunSpec:
    """The run a study's trials are filed under."""
    return RunSpec(
        source_key=source_key or optuna_source_key(storage, study.study_name), kind="optuna",
        study=study.study_name, info={"storage": storage_label(storage)},
    )
