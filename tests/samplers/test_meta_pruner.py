"""MetaPruner on held-out synthetic tasks: epochs saved, search quality kept, Optuna contracts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from metasearch.families import get_family
from metasearch.metamodel import MetaDataset, MetaModel, TaskContext, TaskSplit
from metasearch.samplers import ColdStartWarning, MetaPruner, TaskObjective, make_sampler

FAMILY = get_family("synthetic")
SPACE = FAMILY.space
HELD_OUT = tuple(FAMILY.task_ids()[28:34])


@cache
def trained() -> MetaModel:
    """The curve model fitted on 24 synthetic tasks (4 validate; tasks 28 on never seen)."""
    rng = np.random.default_rng(1)
    ids = FAMILY.task_ids()
    results, features = {}, {}
    for task_id in ids[:28]:
        task = FAMILY.task(task_id)
        results[task_id] = [task.evaluate(SPACE.sample(rng), device="cpu", seed=i)
                            for i in range(40)]
        features[task_id] = task.meta_features
    data = MetaDataset.from_results(
        family=FAMILY.name, space=SPACE, direction=FAMILY.direction,
        max_budget=FAMILY.max_budget, results=results, meta_features=features)
    split = TaskSplit(train=tuple(ids[:24]), validation=tuple(ids[24:28]))
    return MetaModel.train(data, split, kinds=("curves",), seed=0)


def run_study(task_id: str, pruner: optuna.pruners.BasePruner, seed: int,
              n_trials: int = 30) -> tuple[float, int]:
    """Random search on a held-out task: (best noise-free final value, epochs trained)."""
    task = FAMILY.task(task_id)
    study = optuna.create_study(direction="maximize", sampler=make_sampler("random", seed),
                                pruner=pruner)
    study.optimize(TaskObjective(task, device="cpu", seed=seed), n_trials=n_trials)
    epochs = sum(len(t.intermediate_values) for t in study.trials)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(task.final_value(SPACE.unflatten(t.params)) for t in done)
    return best, epochs


def test_saves_epochs_and_keeps_the_best_on_held_out_tasks() -> None:
    model = trained()
    model.split.check_held_out(HELD_OUT)
    saved, lost = [], []
    for task_id in HELD_OUT[:4]:
        features = FAMILY.task(task_id).meta_features
        _, optimum = FAMILY.task(task_id).optimum()
        floor = FAMILY.task(task_id).floor
        for seed in range(2):
            best_full, epochs_full = run_study(task_id, optuna.pruners.NopPruner(), seed)
            pruner = MetaPruner(model, task_features=features, min_epochs=3, confidence=0.95)
            best_pruned, epochs_pruned = run_study(task_id, pruner, seed)
            saved.append(1 - epochs_pruned / epochs_full)
            lost.append((best_full - best_pruned) / (optimum - floor))
    print({"epochs_saved": round(float(np.mean(saved)), 3),
           "regret_added": round(float(np.mean(lost)), 4)})
    assert np.mean(saved) > 0.25
    assert np.mean(lost) < 0.02


def _trial_with(study: optuna.Study, values: list[float], params: dict[str, Any] | None = None
                ) -> optuna.trial.FrozenTrial:
    """A running trial of ``study`` (with ``params``, else sampled) that reported ``values``."""
    if params is not None:
        study.enqueue_trial(params)
    trial = study.ask()
    SPACE.suggest(trial)
    for step, value in enumerate(values, start=1):
        trial.report(value, step)
    return study._storage.get_trial(trial._trial_id)


def _study_with_finished(direction: str = "maximize", n: int = 3) -> optuna.Study:
    study = optuna.create_study(direction=direction, sampler=make_sampler("random", 0))
    study.optimize(TaskObjective(FAMILY.task(HELD_OUT[0]), device="cpu", seed=0), n_trials=n)
    return study


def test_never_prunes_inside_warm_up_or_without_a_best() -> None:
    pruner = MetaPruner(trained(), min_epochs=4)
    awful = [0.0] * 3
    empty = optuna.create_study(direction="maximize")
    assert not pruner.prune(empty, _trial_with(empty, [*awful, 0.0]))  # nothing finished
    study = _study_with_finished()
    assert not pruner.prune(study, _trial_with(study, awful))  # 3 < min_epochs
    assert pruner.probability_better(study, _trial_with(study, awful)) == 1.0


def test_prunes_a_hopeless_curve_and_keeps_a_leading_one() -> None:
    study = _study_with_finished(n=5)
    best = study.best_value
    pruner = MetaPruner(trained(), min_epochs=3)
    hopeless = pruner.probability_better(study, _trial_with(study, [0.0] * 6))
    leading = pruner.probability_better(study, _trial_with(study, [best + 0.1] * 6))
    assert hopeless is not None and leading is not None
    assert hopeless < 0.05 < 0.5 < leading
    assert pruner.prune(study, _trial_with(study, [0.0] * 6))


def test_the_study_correction_is_measured_only_where_it_can_change_the_decision(
        monkeypatch: pytest.MonkeyPatch) -> None:
    study = _study_with_finished(n=8)
    best = study.best_value
    pruner = MetaPruner(trained(), min_epochs=3, evidence_trials=0)
    measured: list[int] = []
    original = MetaPruner._study_calibration

    def counting(self: MetaPruner, *args: Any) -> Any:
        measured.append(1)
        return original(self, *args)

    monkeypatch.setattr(MetaPruner, "_study_calibration", counting)
    curves = [[best + 0.1] * 6, [best] * 5, [best * 0.9] * 4, [best * 0.5] * 6, [0.0] * 6,
              [0.0, 0.1, best * 0.3, best * 0.6]]
    for values in curves:  # the shortcut decides as the full computation does
        trial = _trial_with(study, values)
        full = pruner.probability_better(study, trial)
        assert full is not None
        assert pruner.prune(study, trial) == (full < 1.0 - 0.99)
    measured.clear()
    assert not pruner.prune(study, _trial_with(study, [best + 0.1] * 6))
    assert measured == []  # a kept trial never pays for the leave-one-out correction
    assert pruner.prune(study, _trial_with(study, [0.0] * 6))
    assert measured == [1]


def test_while_evidence_is_thin_no_more_are_pruned_than_completed() -> None:
    study = _study_with_finished(n=4)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    for t in complete:  # as many pruned as completed
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.PRUNED, params=t.params,
            distributions=t.distributions, intermediate_values={1: 0.0, 2: 0.0, 3: 0.0}))
    hopeless = [0.0] * 6
    capped = MetaPruner(trained(), min_epochs=3, evidence_trials=len(complete) + 1)
    free = MetaPruner(trained(), min_epochs=3, evidence_trials=0)
    probability = capped.probability_better(study, _trial_with(study, hopeless))
    assert probability is not None and probability < 0.01
    assert not capped.prune(study, _trial_with(study, hopeless))
    assert free.prune(study, _trial_with(study, hopeless))
    enough = MetaPruner(trained(), min_epochs=3, evidence_trials=len(complete))
    assert enough.prune(study, _trial_with(study, hopeless))


def test_minimize_studies_are_judged_the_other_way_round() -> None:
    """The same trials as losses (negated): the same probability."""
    study = _study_with_finished(n=5)
    flipped = optuna.create_study(direction="minimize")
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        flipped.add_trial(optuna.trial.create_trial(
            params=t.params, distributions=t.distributions, value=-t.value,
            intermediate_values={s: -v for s, v in t.intermediate_values.items()}))
    pruner = MetaPruner(trained(), min_epochs=3)
    curve = [0.3, 0.35, 0.4, 0.42]
    up = pruner.probability_better(study, _trial_with(study, curve, study.trials[0].params))
    down = pruner.probability_better(flipped, _trial_with(flipped, [-v for v in curve],
                                                          study.trials[0].params))
    assert up is not None and down is not None
    assert math.isclose(up, down, rel_tol=1e-9)


def test_parameters_outside_the_space_defer_to_the_fallback() -> None:
    study = optuna.create_study(direction="maximize")
    for i in range(3):
        study.add_trial(optuna.trial.create_trial(
            params={"x": float(i)}, distributions={"x": optuna.distributions.FloatDistribution(
                0, 10)}, value=float(i), intermediate_values={1: 0.0, 2: float(i)}))
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 10)})
    for step in range(1, 5):
        trial.report(-1.0, step)
    frozen = study._storage.get_trial(trial._trial_id)
    pruner = MetaPruner(trained(), min_epochs=2,
                        fallback=optuna.pruners.ThresholdPruner(lower=0.0))
    assert pruner.probability_better(study, frozen) is None
    assert pruner.prune(study, frozen)


def test_cold_start_warns_and_uses_the_fallback() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pruner = MetaPruner.from_warehouse(family="no-such-family")
    assert pruner.model is None
    assert any(issubclass(w.category, ColdStartWarning) for w in caught)
    study = _study_with_finished()
    assert pruner.probability_better(study, _trial_with(study, [0.0] * 6)) is None


def test_a_model_without_a_curve_model_defers() -> None:
    pruner = MetaPruner(trained().without("curves"))
    study = _study_with_finished()
    assert pruner.probability_better(study, _trial_with(study, [0.0] * 6)) is None


@pytest.mark.parametrize("kwargs", [{"min_epochs": 0}, {"confidence": 1.0},
                                    {"confidence": 0.2}, {"min_finished": 0},
                                    {"evidence_trials": -1}, {"calibration_trials": 1},
                                    {"prior_count": 0.0}])
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MetaPruner(None, **kwargs)


# -- what the pruner keeps between decisions never changes one -------------------------------


def _slow_probability(model: MetaModel, features: dict[str, float], study: optuna.Study,
                      trial: optuna.trial.FrozenTrial) -> float:
    """P(better) recalibrated, computed the slow way: every completed trial encoded afresh."""
    curves_model, width, space = model.get("curves"), model.max_budget, model.space
    assert curves_model is not None

    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0

    def curve(t: optuna.trial.FrozenTrial) -> np.ndarray:
        values = [t.intermediate_values[s] for s in sorted(t.intermediate_values)][:width]
        return sign * np.array(values + [math.nan] * (width - len(values)))

    done = [t for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
            if t.values is not None and math.isfinite(t.values[0])]
    x = np.stack([space.encode(space.unflatten(t.params)) for t in done])
    scores = np.array([sign * t.values[0] for t in done])
    curves = np.stack([curve(t) for t in done])
    context = TaskContext(meta_features=features, x=x, scores=scores)
    k = len(trial.intermediate_values)
    recent = TaskContext(meta_features=features, x=x[-50:], scores=scores[-50:])
    fix = curves_model.recalibrate(x[-50:], recent, curves[-50:], k, 3.0)
    query = space.encode(space.unflatten(trial.params))
    return float(curves_model.prob_better(curve(trial)[None, :], query[None, :],
                                          float(scores.max()), context, curves, fix)[0])


def _decide_while_another_worker_completes_trials(worker_a: optuna.Study,
                                                  worker_b: optuna.Study) -> None:
    """Worker A's pruner judges a trial step by step while worker B (its own storage handle
    on the same study: another process) completes a trial between every two decisions; each
    decision must see B's trials, exactly as the slow computation does."""
    task = FAMILY.task(HELD_OUT[1])
    features = dict(task.meta_features)
    pruner = MetaPruner(trained(), task_features=features, min_epochs=2, evidence_trials=0)
    objective = TaskObjective(task, device="cpu", seed=0)
    worker_b.optimize(objective, n_trials=4)
    best = worker_b.best_value
    trial = worker_a.ask()
    SPACE.suggest(trial)
    moved = 0
    for step, value in enumerate(np.linspace(0.5, 1.0, 9) * best):
        trial.report(float(value), step)
        frozen = worker_a._storage.get_trial(trial._trial_id)
        before = _slow_probability(trained(), features, worker_a, frozen) if step else 1.0
        if step >= 1:
            assert pruner.probability_better(worker_a, frozen) == before
            assert pruner.prune(worker_a, frozen) == (before < 1.0 - 0.99)
        worker_b.optimize(objective, n_trials=1)
        if step >= 1:  # the same step after B's trial: a stale answer would show here
            after = _slow_probability(trained(), features, worker_a, frozen)
            assert pruner.probability_better(worker_a, frozen) == after
            moved += after != before
    assert moved >= 3  # B's trials moved the answer, so a stale one could not pass


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_decisions_see_other_workers_trials_exactly_as_a_fresh_reading(
        kind: str, tmp_path: Path) -> None:
    def storage() -> optuna.storages.BaseStorage:
        if kind == "sqlite":
            return optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
        return optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log")))

    worker_a = optuna.create_study(storage=storage(), study_name="s", direction="maximize",
                                   sampler=make_sampler("random", 0))
    worker_b = optuna.load_study(storage=storage(), study_name="s",
                                 sampler=make_sampler("random", 1),
                                 pruner=optuna.pruners.NopPruner())
    _decide_while_another_worker_completes_trials(worker_a, worker_b)


@pytest.mark.postgres
def test_decisions_see_other_workers_trials_on_postgres(
        postgres_schema: Callable[[], str]) -> None:
    url = postgres_schema()
    worker_a = optuna.create_study(storage=url, study_name="s", direction="maximize",
                                   sampler=make_sampler("random", 0))
    worker_b = optuna.load_study(storage=url, study_name="s", sampler=make_sampler("random", 1),
                                 pruner=optuna.pruners.NopPruner())
    _decide_while_another_worker_completes_trials(worker_a, worker_b)


def test_a_study_past_the_calibration_window_gets_the_slow_answer_at_every_step() -> None:
    """60 completed trials (the correction reads the last 50), minimised, one pruner for two
    trials in turn: what it keeps between decisions and trials changes no answer."""
    task = FAMILY.task(HELD_OUT[2])
    features = dict(task.meta_features)
    study = optuna.create_study(direction="minimize", sampler=make_sampler("random", 3))
    rng = np.random.default_rng(3)
    dists = SPACE.distributions()
    for i in range(60):
        config = SPACE.sample(rng)
        reported = task.evaluate(config, device="cpu", seed=i).curve
        curve = [-v if math.isfinite(v) else 0.0 for v in reported]
        flat = SPACE.flatten(config)
        study.add_trial(optuna.trial.create_trial(
            params=flat, distributions={k: dists[k] for k in flat}, value=curve[-1],
            intermediate_values=dict(enumerate(curve))))
    pruner = MetaPruner(trained(), task_features=features, min_epochs=2)
    for scale in (0.3, 0.9):
        trial = study.ask()
        SPACE.suggest(trial)
        for step in range(8):
            trial.report(-scale * (step + 1) / 8, step)
            frozen = study._storage.get_trial(trial._trial_id)
            if step >= 1:
                assert pruner.probability_better(study, frozen) == \
                    _slow_probability(trained(), features, study, frozen)
