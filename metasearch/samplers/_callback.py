"""WarehouseCallback: every finished trial of a running study goes into the warehouse.

``study.optimize(objective, callbacks=[WarehouseCallback(warehouse, family="svc")])`` files
each trial when it finishes (complete, pruned or failed; its intermediate values as the
curve), one small transaction each, through the warehouse's idempotent write path. So today's
study is tomorrow's prior, with no export step, and a later ``metasearch warehouse
ingest-optuna`` of the same study adds nothing twice when the callback was told the storage.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

from metasearch.errors import MetasearchError
from metasearch.families import family_names, get_family
from metasearch.warehouse import (
    FamilySpec,
    IngestSummary,
    RunSpec,
    Warehouse,
    finished_trials,
    optuna_source_key,
    shared_space,
    trial_data,
)

if TYPE_CHECKING:
    from metasearch.spaces import SearchSpace

__all__ = ["WarehouseCallback"]

_logger = optuna.logging.get_logger(__name__)

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class WarehouseCallback:
    """An Optuna callback that records each finished trial in a warehouse.

    The family's space is, in order: the registered family's, the one stored in the
    warehouse, or the one inferred from the study's finished trials when the first trial is
    recorded (parameters matched as :func:`metasearch.warehouse.shared_space` does; a
    parameter outside it is kept in the trial's ``params_outside_space`` attribute). A trial
    that does not fit the family's space is not recorded, with a warning naming it, so that a
    recording problem never stops the user's study; the trial stays in Optuna's storage.

    Thread safety: one instance may serve ``n_jobs > 1``; recording is serialized.

    Args:
        warehouse: an open :class:`~metasearch.warehouse.Warehouse`, or its path or URL
            (opened on the first trial).
        family: the family the study's task belongs to (registered, stored, or new).
        task: the task's name (default: the study's name).
        storage: the study's storage URL (or journal file): records under the same source
            key ``metasearch warehouse ingest-optuna`` uses, so the two never double a trial.
        metric: what the objective's value measures, for a new family.
    """

    def __init__(
        self,
        warehouse: Warehouse | str | os.PathLike[str],
        *,
        family: str,
        task: str | None = None,
        storage: str | None = None,
        metric: str = "value",
    ) -> None:
        if not family:
            raise ValueError("WarehouseCallback needs a family name, got an empty one")
        self._warehouse = warehouse
        self._family = family
        self._task = task
        self._storage = storage
        self._metric = metric
        self._spec: FamilySpec | None = None
        self._lock = threading.Lock()
        self.recorded = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state not in _FINISHED:
            return
        with self._lock:
            try:
                self.recorded += self._record(study, trial).added
            except MetasearchError as exc:
                _logger.warning(f"WarehouseCallback: trial {trial.number} of study "
                                f"{study.study_name!r} is not recorded: {exc}")

    def _record(self, study: optuna.Study, trial: FrozenTrial) -> IngestSummary:
        store = self._store()
        spec = self._spec = self._spec or self._family_spec(store, study)
        data = trial_data(trial, self._task or study.study_name, spec.space)
        return store.ingest(spec, self._run(study), [data])

    def _store(self) -> Warehouse:
        if not isinstance(self._warehouse, Warehouse):
            self._warehouse = Warehouse.open(self._warehouse)
        return self._warehouse

    def _run(self, study: optuna.Study) -> RunSpec:
        key = (optuna_source_key(self._storage, study.study_name) if self._storage
               else f"optuna:callback#{study.study_name}")
        return RunSpec(key, "optuna", study=study.study_name, info={"via": "WarehouseCallback"})

    def _family_spec(self, store: Warehouse, study: optuna.Study) -> FamilySpec:
        """The registered family, else the stored one, else one inferred from the study."""
        direction = study.direction.name.lower()
        if self._family in family_names():
            return FamilySpec.of(get_family(self._family))
        if store.has_family(self._family):
            record = store.family(self._family)
            return FamilySpec(record.name, record.metric, record.direction, record.max_budget,
                              record.space, source=record.source)  # type: ignore[arg-type]
        space: SearchSpace = shared_space({study.study_name: finished_trials(study)})[0]
        return FamilySpec(self._family, self._metric, direction, None, space, source="optuna")
