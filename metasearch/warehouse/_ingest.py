"""The importers: a long-format table, an Optuna study, and the recorder ``metasearch run`` uses.

Each reads and checks its whole source first, then writes it in one transaction, so a bad
source stores nothing, and re-importing a source adds only what is not stored yet.

Family resolution is the caller's: the warehouse does not import the family registry, so the
importers take ``registered``, a function from a family name to the registered family or None.
A name that is neither registered nor stored becomes a new family whose space is inferred from
the data (see :mod:`metasearch.warehouse._infer`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metasearch.errors import WarehouseError
from metasearch.warehouse._optuna import (
    finished_trials,
    load_studies,
    load_study,
    optuna_source_key,
    run_of,
    shared_space,
    study_family,
    study_to_trials,
)
from metasearch.records import (
    FamilyLike,
    FamilySpec,
    IngestSummary,
    RunSpec,
    TrialData,
)
from metasearch.warehouse._table import parse_trials, read_meta_features, read_table

if TYPE_CHECKING:
    import optuna

    from metasearch.evaluation import EvalResult
    from metasearch.spaces import SearchSpace
    from metasearch.warehouse._store import Warehouse

__all__ = [
    "WarehouseRecorder",
    "ingest_optuna",
    "ingest_optuna_studies",
    "ingest_table",
    "run_source_key",
]

Registry = Callable[[str], FamilyLike | None]


def _no_registry(name: str) -> None:
    return None


def stored_spec(warehouse: Warehouse, name: str) -> FamilySpec | None:
    """The family ``name`` as stored, or None."""
    if not warehouse.has_family(name):
        return None
    record = warehouse.family(name)
    return FamilySpec(record.name, record.metric, record.direction, record.max_budget,
                      record.space, source=record.source)  # type: ignore[arg-type]


def _file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"table:{digest.hexdigest()[:20]}"


def ingest_table(
    warehouse: Warehouse,
    path: str | Path,
    family: str,
    *,
    registered: Registry = _no_registry,
    meta_features: str | Path | None = None,
    source_key: str | None = None,
    metric: str = "value",
    direction: str = "maximize",
    space: SearchSpace | None = None,
) -> IngestSummary:
    """Check a long-format table and store it (all of it or, on any problem, nothing).

    Args:
        warehouse: where to store it.
        path: a ``.csv``/``.csv.gz``/``.parquet`` file (format in ``warehouse/README.md``).
        family: the family's name: registered, already stored, or new (space inferred).
        registered: the family registry's lookup.
        meta_features: a table of meta-features per task (``task`` plus numeric columns).
        source_key: the ingest's key (default: a hash of the file's bytes, so the same file
            twice adds nothing).
        metric, direction: of a new, inferred family (ignored otherwise).
        space: the family's space, given explicitly (e.g. read from a ConfigSpace JSON): the
            only way to ingest conditional parameters into a new family, since which parent
            value switches a parameter on cannot be told from the rows. A known family's
            space must be the same one.

    Raises:
        TableFormatError: naming the row and column of the first problem.
        WarehouseError: ``space`` differs from the known family's.
    """
    path = Path(path)
    frame = read_table(path)
    spec = _known(warehouse, family, registered)
    trials, space = parse_trials(frame, _given_space(family, spec, space), path.name)
    if spec is None:
        spec = FamilySpec(family, metric, direction, _longest_curve(trials), space,
                          source="table")
    features = read_meta_features(Path(meta_features)) if meta_features is not None else {}
    run = RunSpec(source_key or _file_key(path), "table",
                  info={"file": path.name, "rows": len(frame)})
    return warehouse.ingest(spec, run, trials, meta_features=features)


def _given_space(name: str, known: FamilySpec | None, space: SearchSpace | None
                 ) -> SearchSpace | None:
    """The space to ingest in: the known family's, else the one given (else None: inferred).

    Raises:
        WarehouseError: a given space that is not the known family's (both fingerprints named).
    """
    if known is not None and space is not None and \
            known.space.fingerprint() != space.fingerprint():
        raise WarehouseError(f"family {name!r} is known with space {known.space.fingerprint()}, "
                             f"the given space is {space.fingerprint()}: ingest into a new "
                             "family name, or leave the space out")
    return known.space if known is not None else space


def _known(warehouse: Warehouse, name: str, registered: Registry) -> FamilySpec | None:
    family = registered(name)
    return FamilySpec.of(family) if family is not None else stored_spec(warehouse, name)


def ingest_optuna(
    warehouse: Warehouse,
    storage: str,
    study_name: str,
    *,
    family: str | None = None,
    task: str | None = None,
    registered: Registry = _no_registry,
    source_key: str | None = None,
    space: SearchSpace | None = None,
) -> tuple[IngestSummary, int]:
    """Store the finished trials of an Optuna study (and how many were still unfinished).

    ``family`` defaults to the study's ``metasearch_family`` user attribute (``metasearch
    run`` sets it); ``task`` to its ``metasearch_task``, else the study's name. ``space``
    gives a new family's space explicitly (how a conditional study is ingested: its trials
    hold only their active parameters, which Optuna's distributions cannot relate).
    """
    study = load_study(storage, study_name)
    name = _family_name(study, family)
    known = _known(warehouse, name, registered)
    spec, run, trials, unfinished = _converted(study, name, known,
                                               _given_space(name, known, space), task,
                                               storage, source_key)
    return warehouse.ingest(spec, run, trials), unfinished


def ingest_optuna_studies(
    warehouse: Warehouse,
    storage: str,
    patterns: Sequence[str] = (),
    *,
    family: str | None = None,
    registered: Registry = _no_registry,
    space: SearchSpace | None = None,
) -> list[tuple[str, IngestSummary, int]]:
    """Store many studies of one storage: all of them, or those matching the globs.

    Each study is a task (its ``metasearch_task``, else its name). Studies of a family that
    is neither registered nor stored are filed in one space, matched by parameter name
    (:func:`~metasearch.warehouse._optuna.shared_space`). Every study is read and converted
    before the first write; each is then its own transaction, and importing again adds only
    trials not stored yet.
    ``space`` gives the space of every family of these studies explicitly (as for
    :func:`ingest_optuna`), instead of matching one by name.

    Returns:
        ``(study name, summary, unfinished trials left out)`` per study.
    """
    studies = load_studies(storage, patterns)
    groups: dict[str, list[optuna.Study]] = {}
    for study in studies:
        groups.setdefault(_family_name(study, family), []).append(study)
    plans = []
    for name, members in groups.items():
        known = _known(warehouse, name, registered)
        chosen = _given_space(name, known, space) or shared_space(
            {s.study_name: finished_trials(s) for s in members})[0]
        plans += [(s, name, known, chosen) for s in members]
    batches = [_converted(s, name, known, space, None, storage, None)
               for s, name, known, space in plans]
    return [(study.study_name, warehouse.ingest(spec, run, trials), unfinished)
            for (study, *_), (spec, run, trials, unfinished) in zip(plans, batches, strict=True)]


def _family_name(study: optuna.Study, family: str | None) -> str:
    name = family or study.user_attrs.get("metasearch_family")
    if not name:
        raise WarehouseError(f"study {study.study_name!r} names no family: give --family")
    return str(name)


def _converted(
    study: optuna.Study, name: str, known: FamilySpec | None, space: SearchSpace | None,
    task: str | None, storage: str, source_key: str | None,
) -> tuple[FamilySpec, RunSpec, list[TrialData], int]:
    """The study as the warehouse stores it: family, run, trials, unfinished count."""
    task = task or study.user_attrs.get("metasearch_task") or study.study_name
    trials, space, unfinished = study_to_trials(study, str(task), space)
    spec = study_family(study, name, known, space, _longest_curve(trials))
    return spec, run_of(storage, study, source_key), trials, unfinished


def _longest_curve(trials: Sequence[TrialData]) -> int | None:
    """A new family's budget: the most curve points a trial has (None: no curves). Curves are
    read by position, whatever their steps (a table's may start at 0)."""
    return max((len(t.curve) for t in trials), default=0) or None


def run_source_key(storage: str | None, study: str) -> str:
    """The source key ``metasearch run`` writes under: its study's, or a fresh one."""
    return optuna_source_key(storage, study) if storage else f"run:{uuid.uuid4().hex}"


class WarehouseRecorder:
    """A ``TaskObjective`` hook that writes each finished trial as it finishes.

    Each trial is its own transaction, so killing the process loses at most the trial in
    flight. ``offset`` is added to Optuna's trial number (a resumed build numbers on from the
    largest stored number).
    """

    def __init__(
        self,
        warehouse: Warehouse,
        family: FamilyLike,
        task: str,
        run: RunSpec,
        *,
        meta_features: Mapping[str, float] | None = None,
        offset: int = 0,
    ) -> None:
        self.warehouse = warehouse
        self.spec = FamilySpec.of(family)
        self.task = task
        self.run = run
        self.offset = offset
        self._features = dict(meta_features or {})
        self.written = 0

    def __call__(self, trial: Any, result: EvalResult) -> None:
        data = TrialData.from_result(self.task, int(trial.number) + self.offset, result)
        features = {self.task: self._features} if self._features else {}
        self.warehouse.ingest(self.spec, self.run, [data], meta_features=features)
        self._features = {}
        self.written += 1
