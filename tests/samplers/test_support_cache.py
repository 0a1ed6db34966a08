"""MetaSampler's per-storage cache and conditioning subset change its cost, never its answers."""

from __future__ import annotations

from functools import cache
from typing import Any

import cell_tasks
import numpy as np
import optuna
import pytest
from synthetic_data import evaluated_dataset

from metasearch.families import get_family
from metasearch.metamodel import MetaModel, TaskSplit
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.samplers._meta_support import (
    PROPOSAL_ATTR,
    SupportCache,
    conditioning_rows,
    config_key,
    read_support,
)

FAMILY = get_family("synthetic")
SPACE = FAMILY.space
TASK: Any = FAMILY.task(FAMILY.task_ids()[30])  # a SyntheticTask, with final_value


@cache
def small_model() -> MetaModel:
    """A prior and a surrogate fitted on 8 synthetic tasks of 30 trials (a few seconds)."""
    ids = FAMILY.task_ids()
    data = evaluated_dataset(ids[:8], 30, seed=1)
    split = TaskSplit(train=tuple(ids[:6]), validation=tuple(ids[6:8]))
    return MetaModel.train(data, split, kinds=("prior", "surrogate"), seed=0)


COMPLETE = optuna.trial.TrialState.COMPLETE


def _trial(rng: np.random.Generator, state: optuna.trial.TrialState = COMPLETE,
           attrs: dict[str, Any] | None = None) -> optuna.trial.FrozenTrial:
    flat = SPACE.flatten(SPACE.sample(rng))
    dists = SPACE.distributions()
    value = TASK.final_value(SPACE.unflatten(flat)) \
        if state == COMPLETE else None
    return optuna.trial.create_trial(params=flat, distributions={k: dists[k] for k in flat},
                                     value=value, state=state, system_attrs=attrs or {})


def _mixed_study(rng: np.random.Generator) -> optuna.Study:
    """Complete, failed, pruned, proposed and running trials, and an enqueued one."""
    study = optuna.create_study(direction="maximize")
    states = [COMPLETE] * 6 + [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED]
    study.add_trials([_trial(rng, s) for s in states])
    proposal = SPACE.flatten(SPACE.sample(rng))
    study.add_trial(_trial(rng, attrs={PROPOSAL_ATTR: proposal}))
    study.add_trial(_trial(rng, optuna.trial.TrialState.RUNNING))
    study.enqueue_trial(SPACE.flatten(SPACE.sample(rng)))
    return study


def _same(a: Any, b: Any) -> None:
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.taken == b.taken and a.best_params == b.best_params


def test_cached_support_equals_a_fresh_read() -> None:
    study = _mixed_study(np.random.default_rng(0))
    trials = study._get_trials(deepcopy=False, use_cache=False)
    storage_cache = SupportCache().of(study._storage)
    assert storage_cache is not None
    fresh = read_support(SPACE, study, trials, current=-1)
    first = read_support(SPACE, study, trials, -1, storage_cache)
    again = read_support(SPACE, study, trials, -1, storage_cache)
    _same(fresh, first)
    _same(fresh, again)
    finished = {t._trial_id for t in trials if t.state.is_finished()}
    assert set(storage_cache.trials) == finished
    unfinished = {t._trial_id for t in trials if not t.state.is_finished()}
    assert set(storage_cache.unfinished) == unfinished  # kept with what they were read from


def test_a_running_trial_is_read_again_when_its_claims_change() -> None:
    """A running trial's cached encoding serves only while its parameters and proposal are
    unchanged: a new proposal is taken at once, and the trial moves to the finished cache."""
    rng = np.random.default_rng(1)
    study = _mixed_study(rng)
    cache = SupportCache().of(study._storage)
    assert cache is not None
    running = study.ask()
    first = SPACE.flatten(SPACE.sample(rng))
    study._storage.set_trial_system_attr(running._trial_id, PROPOSAL_ATTR, first)
    read_support(SPACE, study, study._get_trials(deepcopy=False, use_cache=False), -1, cache)
    second = SPACE.flatten(SPACE.sample(rng))
    study._storage.set_trial_system_attr(running._trial_id, PROPOSAL_ATTR, second)
    trials = study._get_trials(deepcopy=False, use_cache=False)
    _same(read_support(SPACE, study, trials, -1, cache), read_support(SPACE, study, trials, -1))
    key = config_key(SPACE.encode(SPACE.unflatten(second)))
    assert key in read_support(SPACE, study, trials, -1, cache).taken
    study.tell(running, TASK.final_value(SPACE.unflatten(second)))
    read_support(SPACE, study, study._get_trials(deepcopy=False, use_cache=False), -1, cache)
    assert running._trial_id in cache.trials and running._trial_id not in cache.unfinished


def _other_worker_trial(network: str, task: Any) -> optuna.trial.FrozenTrial:
    """A finished trial of ``network`` on the cell-only space, as another process adds it."""
    flat = cell_tasks.SPACE.flatten({"cell": network})
    dists = cell_tasks.SPACE.distributions()
    return optuna.trial.create_trial(params=flat, distributions=dists,
                                     value=task.final_value({"cell": network}))


def _networks_by_value(task: Any) -> list[str]:
    """One cell per distinct network of the cell-only space, the best first."""
    first = {cell_tasks.network_key(c.to_nb201()): c.to_nb201()
             for c in reversed(list(cell_tasks.SPACE.cells[0].all_cells()))}
    return sorted(first.values(), key=lambda a: -task.final_value({"cell": a}))


def test_trials_other_workers_add_are_read() -> None:
    """Another worker's trials (the five best networks not yet tried) are not proposed again."""
    task: Any = cell_tasks.FAMILY.task(cell_tasks.HELD_OUT[0])
    sampler = MetaSampler(cell_tasks.cell_model(), seed=0, n_warmstart=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(cell_tasks.objective(task.id), n_trials=3)
    own = set(cell_tasks.network_keys(study))
    others = [a for a in _networks_by_value(task) if cell_tasks.network_key(a) not in own][:5]
    study.add_trials([_other_worker_trial(a, task) for a in others])  # as another process would
    study.optimize(cell_tasks.objective(task.id), n_trials=6)
    cached = sampler._cache.of(study._storage)
    assert cached is not None
    # every trial finished before the last proposal, the other worker's included
    assert set(cached.trials) == {t._trial_id for t in study.trials[:-1]}
    keys = cell_tasks.network_keys(study)
    assert len(keys) == 14 and len(set(keys)) == 14


def test_the_cache_changes_no_proposal(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(cached: bool) -> list[dict[str, Any]]:
        sampler = MetaSampler(small_model(), seed=3, n_warmstart=0)
        if not cached:
            monkeypatch.setattr(sampler._cache, "of", lambda storage: None)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(lambda t: TASK.final_value(SPACE.suggest(t)), n_trials=12)
        return [t.params for t in study.trials]

    assert run(cached=True) == run(cached=False)


def test_conditioning_rows_keep_the_best_and_the_quantiles() -> None:
    rng = np.random.default_rng(0)
    small = rng.random(50)
    np.testing.assert_array_equal(conditioning_rows(small, cap=50), np.arange(50))
    scores = rng.random(1000)
    scores[rng.choice(1000, 40, replace=False)] = np.nan
    rows = conditioning_rows(scores, cap=200)
    assert len(rows) == 200 and len(set(rows.tolist())) == 200
    assert int(np.nanargmax(scores)) in rows
    assert np.isnan(scores[rows]).sum() == 8  # failed trials rank last, sampled like the rest
    order = np.argsort(-np.where(np.isnan(scores), -np.inf, scores), kind="stable")
    ranks = np.argsort(order)[rows]  # evenly spaced in rank: the subset's quantiles are kept
    np.testing.assert_allclose(np.sort(ranks), np.linspace(0, 999, 200), atol=0.5)


def test_a_study_past_the_cap_gets_fresh_proposals() -> None:
    """Past the conditioning cap every trial still counts as tried, not just the subset.

    230 trials cover the task's 16 best networks of 26 (the ones a sampler wants to propose
    again); the proposals must be three of the 10 left.
    """
    task: Any = cell_tasks.FAMILY.task(cell_tasks.HELD_OUT[3])
    best = _networks_by_value(task)[:16]
    sampler = MetaSampler(cell_tasks.cell_model(), seed=0, n_candidates=64)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.add_trials([_other_worker_trial(best[i % 16], task) for i in range(230)])
    study.optimize(cell_tasks.objective(task.id), n_trials=3)
    keys = cell_tasks.network_keys(study)
    assert len(set(keys[:230])) == 16 and len(set(keys)) == 19
    proposed = [t for t in study.trials[230:] if PROPOSAL_ATTR in t.system_attrs]
    assert len(proposed) == 3
