"""Issue 14, item 4: each private Optuna use of ``samplers._optuna_private`` on this Optuna.

One test per use, on real studies and storages: each fails on an Optuna version that renames,
removes or changes what metasearch relies on, so such a version fails CI, not a user's study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import RandomSampler
from optuna.trial import FrozenTrial, TrialState
from packaging.requirements import Requirement

from metasearch.samplers._optuna_private import (
    contains,
    set_trial_system_attr,
    storage_of,
    trial_id,
    trials_snapshot,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _Spy(RandomSampler):
    """Random sampling that calls the private helpers from inside a running trial."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.seen: list[tuple[int, list[FrozenTrial], list[FrozenTrial], list[FrozenTrial]]] = []

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        first, again = trials_snapshot(study), trials_snapshot(study)
        done = trials_snapshot(study, (TrialState.COMPLETE,))
        self.seen.append((trial.number, first, again, done))
        set_trial_system_attr(study, trial, f"seen_{param_name}", len(first))
        return super().sample_independent(study, trial, param_name, param_distribution)


def _study(storage: str | optuna.storages.BaseStorage | None = None
           ) -> tuple[optuna.Study, _Spy]:
    spy = _Spy()
    study = optuna.create_study(storage=storage, sampler=spy)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 0, 3), n_trials=3)
    return study, spy


def test_trials_snapshot_is_one_read_per_trial_filtered_by_state() -> None:
    _, spy = _study()
    for number, first, again, done in spy.seen:
        assert first is again  # the per-trial snapshot, not a fresh read of the storage
        assert [t.number for t in first] == list(range(number + 1))
        assert [t.number for t in done] == list(range(number))
        assert all(t.state == TrialState.COMPLETE for t in done)


def test_storage_of_is_the_study_storage() -> None:
    storage = optuna.storages.InMemoryStorage()
    study, _ = _study(storage)
    assert storage_of(study) is storage


@pytest.mark.parametrize("url", [None, "sqlite"])
def test_trial_id_is_the_storage_key_of_the_trial(url: str | None, tmp_path: Path) -> None:
    storage = None if url is None else f"sqlite:///{tmp_path / 'o.db'}"
    study, _ = _study(storage)
    for trial in study.trials:
        assert storage_of(study).get_trial(trial_id(trial)).number == trial.number
    other = optuna.create_study(storage=storage_of(study))
    other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert trial_id(other.trials[0]) not in {trial_id(t) for t in study.trials}


def test_set_trial_system_attr_is_read_back_by_every_reader(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    study, _ = _study(url)
    again = optuna.load_study(study_name=study.study_name, storage=url)
    for trial in again.trials:
        assert trial.system_attrs["seen_x"] == trial.number + 1
        assert trial.system_attrs["seen_n"] == trial.number + 1


@pytest.mark.parametrize(("dist", "inside", "outside"), [
    (FloatDistribution(0.0, 1.0), [0.0, 0.5, 1.0], [-0.1, 1.5, "a"]),
    (FloatDistribution(0.0, 1.0, step=0.25), [0.25, 0.75], [0.3, 2.0]),
    (FloatDistribution(1e-4, 1.0, log=True), [1e-3], [1e-5]),
    (IntDistribution(0, 8, step=2), [0, 4, 8], [3, 10]),
    (CategoricalDistribution(["a", 1, None]), ["a", 1, None], ["b", 2]),
])
def test_contains_is_range_step_grid_and_choices(dist: BaseDistribution, inside: list[Any],
                                                 outside: list[Any]) -> None:
    assert all(contains(dist, v) for v in inside)
    assert not any(contains(dist, v) for v in outside)


def test_the_installed_optuna_is_one_the_requirement_admits() -> None:
    # The upper bound is only as good as the version CI tests under it: this run's Optuna.
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    text = pyproject.read_text()
    start = text.index('"optuna')
    requirement = Requirement(text[start + 1:text.index('"', start + 1)])
    assert requirement.specifier.contains(optuna.__version__), (requirement, optuna.__version__)
    assert any(spec.operator == "<" for spec in requirement.specifier)
