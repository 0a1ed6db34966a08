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
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metasearch.errors import SpaceError, WarehouseError, redact, redact_url
from metasearch.records import FamilyLike, FamilySpec, RunSpec, TrialData
from metasearch.spaces import (
    Categorical,
    Float,
    Hyperparameter,
    Int,
    SearchSpace,
    hyperparameter_of_distribution,
)

if TYPE_CHECKING:
    import optuna
    from sqlalchemy import URL
    from optuna.trial import FrozenTrial

__all__ = [
    "finished_trials",
    "load_studies",
    "load_study",
    "open_storage",
    "optuna_source_key",
    "run_of",
    "shared_space",
    "space_of_distributions",
    "storage_label",
    "study_family",
    "study_names",
    "study_to_trials",
    "trial_data",
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
    except (ArgumentError, ValueError):  # a malformed port is a ValueError
        return redact_url(storage)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return url.render_as_string(hide_password=True)


def optuna_source_key(storage: str, study: str) -> str:
    """The source key of a study: ``optuna:<storage label>#<study name>``."""
    return f"optuna:{storage_label(storage)}#{study}"


def open_storage(storage: str, *, create: bool = False) -> optuna.storages.BaseStorage:
    """An Optuna storage from an RDB URL or a journal file path, every failure one error.

    Args:
        storage: ``sqlite:///...``, ``postgresql://...`` (any SQLAlchemy URL), or a path.
        create: whether a missing SQLite or journal file may be created (``run`` creates its
            study; ``suggest`` and ``ingest-optuna`` only read one, and never leave an empty
            database behind for a mistyped path).

    Raises:
        WarehouseError: a malformed URL, a missing file, an unreachable server, or not an
            Optuna storage; the URL is shown with its password hidden.
    """
    import optuna
    from sqlalchemy import make_url

    if "://" not in storage:
        return _journal(storage, create)
    shown = redact_url(storage)
    try:
        url = make_url(storage)
    except Exception as exc:  # ArgumentError, ValueError: not a URL SQLAlchemy reads
        raise WarehouseError(f"not a storage URL: {shown!r} ({_reason(exc)})") from exc
    _check_sqlite_file(url, create)
    kwargs = ({"connect_args": {"connect_timeout": 10}}
              if url.get_backend_name() == "postgresql" else {})
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(storage, engine_kwargs=kwargs)
        except (IntegrityError, ProgrammingError):
            # Another process is creating Optuna's tables this moment: they exist next time.
            time.sleep(0.5 * (attempt + 1))
        except Exception as exc:  # unknown dialect, no driver, unreachable, not Optuna's
            raise WarehouseError(f"cannot open Optuna storage {shown}: {_reason(exc)}") from exc
    try:
        return optuna.storages.RDBStorage(storage, engine_kwargs=kwargs)
    except Exception as exc:
        raise WarehouseError(f"cannot open Optuna storage {shown}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """An exception as one line of text, with any password in it hidden."""
    reason = getattr(exc, "orig", None) or exc
    text = " ".join(str(reason).split()).split(" (Background on this error")[0]
    return redact(f"{type(reason).__name__}: {text}" if text else type(reason).__name__)


def _journal(path: str, create: bool) -> optuna.storages.BaseStorage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    file = Path(path).expanduser()
    if not create and not file.is_file():
        raise WarehouseError(f"no Optuna journal file at {path!r} (or give a URL)")
    if not file.parent.is_dir():
        raise WarehouseError(f"cannot create the Optuna journal {path!r}: its folder "
                             f"{str(file.parent)!r} does not exist")
    try:
        return JournalStorage(JournalFileBackend(str(file)))
    except Exception as exc:
        raise WarehouseError(f"cannot open Optuna journal {path!r}: {_reason(exc)}") from exc


def _check_sqlite_file(url: URL, create: bool) -> None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database).expanduser()
    if not create and not path.is_file():
        raise WarehouseError(f"no Optuna storage file at {str(path)!r}")
    if create and not path.parent.is_dir():
        raise WarehouseError(f"cannot create the Optuna storage {str(path)!r}: its folder "
                             f"{str(path.parent)!r} does not exist")


def load_study(storage: str, study: str,
               opened: optuna.storages.BaseStorage | None = None) -> optuna.Study:
    """Load ``study`` from an RDB URL or a journal file (``opened``: that storage, already
    open), without creating anything."""
    import optuna

    target = opened if opened is not None else open_storage(storage)
    try:
        # A sampler that costs nothing to build: the study is only read.
        return optuna.load_study(study_name=study, storage=target,
                                 sampler=optuna.samplers.RandomSampler())
    except KeyError as exc:
        names = optuna.get_all_study_names(storage=target)
        raise WarehouseError(f"no study {study!r} in {redact_url(storage)}: it has "
                             + (", ".join(names) if names else "no study")) from exc
    except Exception as exc:  # not an Optuna database, a server gone since
        raise WarehouseError(f"cannot read Optuna storage {redact_url(storage)}: "
                             f"{_reason(exc)}") from exc


def load_studies(storage: str, patterns: Sequence[str] = ()) -> list[optuna.Study]:
    """The studies of ``storage`` whose names match any glob of ``patterns`` (all if none),
    read through one open storage."""
    opened = open_storage(storage)
    return [load_study(storage, name, opened)
            for name in study_names(storage, patterns, opened)]


def _hyperparameter(name: str, dist: Any) -> Hyperparameter:
    try:
        return hyperparameter_of_distribution(name, dist)
    except SpaceError as exc:
        raise WarehouseError(str(exc)) from exc


def _kind(param: Hyperparameter) -> str:
    """A hyperparameter's kind and scale, as a message names it."""
    if isinstance(param, Categorical):
        return "categorical"
    scale = "log " if getattr(param, "log", False) else ""
    step = f" step {param.step}" if isinstance(param, Int) and param.step != 1 else ""
    return f"{scale}{type(param).__name__.lower()}{step}"


def _widen(a: Hyperparameter, b: Hyperparameter, where: tuple[str, str]) -> Hyperparameter:
    """The hyperparameter covering both: the widest range on one scale, or every choice.

    Raises:
        WarehouseError: the two differ in kind or scale (``where`` says between what).
    """
    if isinstance(a, Categorical) and isinstance(b, Categorical):
        extra = tuple(c for c in b.choices if c not in a.choices)
        return Categorical(a.name, a.choices + extra)
    if isinstance(a, Int) and isinstance(b, Int) and (a.log, a.step) == (b.log, b.step):
        return Int(a.name, min(a.low, b.low), max(a.high, b.high), log=a.log, step=a.step)
    if isinstance(a, Float) and isinstance(b, Float) and a.log == b.log:
        return Float(a.name, min(a.low, b.low), max(a.high, b.high), log=a.log)
    raise WarehouseError(f"parameter {a.name!r} is {_kind(a)} in {where[0]} but {_kind(b)} "
                         f"in {where[1]}: give the parameter one kind and scale everywhere, "
                         "or rename one of them")


def space_of_distributions(trials: Sequence[FrozenTrial]) -> SearchSpace:
    """The space of a study whose family is not registered: its trials' distributions.

    Raises:
        WarehouseError: a parameter is absent from some trial (conditional), or changes kind.
    """
    params: dict[str, Hyperparameter] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            here = _hyperparameter(name, dist)
            where = ("earlier trials", f"trial {trial.number}")
            params[name] = _widen(params[name], here, where) if name in params else here
    for trial in trials:
        missing = sorted(set(params) - set(trial.params))
        if missing:
            raise WarehouseError(
                f"trial {trial.number} lacks parameter(s) {missing}: a family inferred from a "
                "study needs every parameter in every trial; register the family (a file in "
                "task_families/) to import a conditional space"
            )
    return SearchSpace(tuple(params[name] for name in sorted(params)))


def shared_space(
    trials_by_study: Mapping[str, Sequence[FrozenTrial]],
) -> tuple[SearchSpace, list[str]]:
    """The space many studies are learned in, matched by parameter name.

    The rule (the README's "how differing spaces are matched"): a parameter that every
    finished trial of every study has is in the space, with the widest range seen on its one
    scale (log or linear, the same integer step) and the union of its categorical choices in
    the order first seen. A parameter that some trial lacks (added or dropped between
    studies, or conditional within one) is left out, and returned by name: a sampler leaves
    it to its fallback. One parameter with two kinds or scales is refused, naming the
    studies.

    Raises:
        WarehouseError: no trial at all, no parameter shared, or a parameter whose kind or
            scale differs (naming the parameter and the two studies).
    """
    params: dict[str, Hyperparameter] = {}
    first: dict[str, str] = {}
    seen: dict[str, int] = {}
    total = 0
    for study, trials in trials_by_study.items():
        for trial in trials:
            total += 1
            for name, dist in trial.distributions.items():
                here = _hyperparameter(name, dist)
                seen[name] = seen.get(name, 0) + 1
                if name not in params:
                    params[name], first[name] = here, study
                else:
                    where = (f"study {first[name]!r}", f"study {study!r}")
                    params[name] = _widen(params[name], here, where)
    if total == 0:
        raise WarehouseError(f"studies {sorted(trials_by_study)} have no finished trial")
    shared = sorted(n for n in params if seen[n] == total)
    if not shared:
        raise WarehouseError(f"studies {sorted(trials_by_study)} share no parameter that every "
                             f"finished trial has (parameters seen: {sorted(params)})")
    return SearchSpace(tuple(params[n] for n in shared)), sorted(set(params) - set(shared))


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's complete, pruned and failed trials, in number order."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
    return list(study.get_trials(deepcopy=False, states=states))


def study_names(storage: str, patterns: Sequence[str] = (),
                opened: optuna.storages.BaseStorage | None = None) -> list[str]:
    """The studies of ``storage`` whose names match any glob of ``patterns`` (all if none).

    Raises:
        WarehouseError: the storage cannot be read, or a pattern matches no study (naming
            the studies there are).
    """
    import fnmatch

    import optuna

    target = opened if opened is not None else open_storage(storage)
    try:
        names = optuna.get_all_study_names(storage=target)
    except Exception as exc:  # a broken database
        raise WarehouseError(f"cannot read Optuna storage {storage_label(storage)}: "
                             f"{_reason(exc)}") from exc
    chosen: list[str] = []
    for pattern in patterns or ("*",):
        found = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not found:
            raise WarehouseError(f"no study matches {pattern!r} in {storage_label(storage)}: "
                                 "it has " + (", ".join(names) if names else "no study"))
        chosen += [n for n in found if n not in chosen]
    return chosen


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


def trial_data(trial: FrozenTrial, task: str, space: SearchSpace) -> TrialData:
    """A finished Optuna trial as the warehouse stores it (intermediate values: its curve)."""
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
    return [trial_data(t, task, space) for t in done], space, len(all_trials) - len(done)


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
