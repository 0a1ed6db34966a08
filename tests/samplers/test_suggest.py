"""``suggest`` says why: the past tasks that weigh most, with the features that weigh them."""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import pytest
from synthetic_data import shift_model

from metasearch.families import get_family
from metasearch.metamodel import UnknownFeatureWarning
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.samplers._suggest import suggest

FAMILY = get_family("shift")
HELD_OUT = FAMILY.task_ids()[28:]


def test_similar_tasks_come_with_the_features_that_weigh_them() -> None:
    features = FAMILY.task(HELD_OUT[0]).meta_features
    result = suggest(FAMILY, model=shift_model(), n=3, meta_features=features, seed=0)
    assert result.relevance and set(result.relevance) <= set(features)
    assert list(result.relevance.values()) == sorted(result.relevance.values(), reverse=True)
    weights = [s.weight for s in result.similar]
    assert weights == sorted(weights, reverse=True) and weights[0] > 1.5 / result.n_past_tasks
    for item in result.similar:
        stored = FAMILY.task(item.task).meta_features
        assert item.features == {n: stored[n] for n in result.relevance}
    # the heaviest past task is nearer the new task, in the weighing features, than most are
    def distance(task: str) -> float:
        other = FAMILY.task(task).meta_features
        return math.dist([math.log(features[n]) for n in result.relevance],
                         [math.log(other[n]) for n in result.relevance])
    past = [distance(t) for t in FAMILY.task_ids()[:28]]
    assert distance(result.similar[0].task) <= np.quantile(past, 0.25)
    doc = result.to_dict()
    assert doc["similar_tasks"][0]["features"] == result.similar[0].features
    assert doc["feature_relevance"] == result.relevance


def test_an_unknown_feature_is_reported_not_dropped() -> None:
    features = {**FAMILY.task(HELD_OUT[0]).meta_features, "n_rowz": 5.0}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = MetaSampler(shift_model(), task_features=features, seed=0)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for _ in range(3):
            FAMILY.space.suggest(study.ask())
    unknown = [w for w in caught if issubclass(w.category, UnknownFeatureWarning)]
    assert len(unknown) == 1 and "n_rowz" in str(unknown[0].message)
    assert sampler.unknown_features == ["n_rowz"]
    result = suggest(FAMILY, model=shift_model(), n=1, meta_features=features, seed=0)
    assert result.unknown_features == ["n_rowz"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownFeatureWarning)
        MetaSampler(shift_model(), task_features=FAMILY.task(HELD_OUT[0]).meta_features)


def test_suggestions_without_features_show_no_weighing() -> None:
    result = suggest(FAMILY, model=shift_model(), n=2, seed=0)
    assert result.unknown_features == []
    assert all(s.weight == pytest.approx(1 / result.n_past_tasks) for s in result.similar)
