"""Meta-features, task similarity and the encoding layout."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from synthetic_data import evaluated_dataset

from metasearch.errors import MetasearchError
from metasearch.families import get_family
from metasearch.metamodel import MetaDataset, TaskContext
from metasearch.metamodel._features import (
    EncodingLayout,
    MetaFeatureScaler,
    TaskResponses,
    TaskSimilarity,
    discordances,
)
from metasearch.metamodel._responses import fenced_scores
from metasearch.metamodel._similarity import _discordance
from metasearch.spaces import Float, SearchSpace

FAMILY = get_family("synthetic")


def _task(task_id: str) -> Any:
    """A synthetic task (typed loosely: it adds ``final_value``, ``optimum``, ``lr_opt``)."""
    return FAMILY.task(task_id)


def _encode(configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return FAMILY.space.encode_many(list(configs))
LINE = SearchSpace(params=(Float("x", 0.0, 1.0),))


def _dataset(task_ids: list[str], n_trials: int, seed: int) -> MetaDataset:
    """Random configurations of each synthetic task, evaluated (the shared builder)."""
    return evaluated_dataset(task_ids, n_trials, seed)


@functools.cache
def _synthetic() -> tuple[MetaDataset, tuple[str, ...]]:
    """20 training tasks and 10 held-out task ids (their trials never generated)."""
    ids = FAMILY.task_ids()
    return _dataset(ids[:20], 60, 0), tuple(ids[20:30])


def _peaks(features: dict[str, dict[str, float]], seed: int = 0) -> MetaDataset:
    """Tasks on [0, 1] whose score peaks at x = 0.2 (ids 'lo*') or x = 0.8 ('hi*')."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for task in features:
        peak = 0.2 if task.startswith("lo") else 0.8
        for x in rng.random(25):
            rows.append({"trial_id": len(rows), "task": task, "config": {"x": float(x)},
                         "status": "complete",
                         "final_value": -((x - peak) ** 2) + 0.001 * rng.random()})
    return MetaDataset.from_frames(family="toy", space=LINE, direction="maximize",
                                   max_budget=1, trials=pd.DataFrame(rows),
                                   meta_features=features)


# -- scaler ----------------------------------------------------------------------------------


def test_scaler_is_robust_and_logs_heavy_tailed_counts() -> None:
    features = {f"t{i}": {"rows": 10.0 ** (2 + i), "rate": 0.1 * i, "extra": 1.5, "rare": 1.0}
                for i in range(5)}
    del features["t0"]["extra"]
    for task in ("t0", "t1", "t2"):
        del features[task]["rare"]
    scaler = MetaFeatureScaler().fit(features)
    assert scaler.names == ["extra", "rate", "rows"]  # what at least half the tasks have
    assert scaler.flagged == ["extra"]  # t0 lacks it: imputed, and a column flags the hole
    assert scaler.columns == ["extra", "rate", "rows", "extra missing"]
    assert scaler.transform(features["t2"]) == pytest.approx([0.0, 0.0, 0.0, 0.0])  # medians
    assert scaler.transform_stored(features["t0"], "t0")[[0, 3]] == pytest.approx([0.0, 1.0])
    z = np.array([scaler.transform_stored(f, t) for t, f in features.items()])
    assert z[:, 2] == pytest.approx(z[:, 1], abs=0.05)  # log(rows) is linear in i, like rate
    # rate: median 0.2, IQR 0.2; a missing feature sits at its median, flagged
    assert scaler.transform({"rate": 0.3}) == pytest.approx([0.0, 0.1 / 0.2 * 1.349, 0.0, 1.0])
    assert scaler.unknown({"rate": 0.3, "rare": 1.0, "new": 2.0}) == ["new", "rare"]


def test_scaler_compares_counts_by_ratio() -> None:
    """Counts spanning a factor >= 4 go on a log scale even within 1.5 decades; rates do not."""
    features = {f"t{i}": {"classes": float(c), "share": s}
                for i, (c, s) in enumerate([(2, 0.2), (3, 0.4), (5, 0.5), (10, 0.7), (20, 0.9)])}
    scaler = MetaFeatureScaler().fit(features)
    z = {n: scaler.transform({"classes": n})[0] for n in (2.0, 5.0, 20.0)}
    # on the log1p scale 5 -> 20 is 1.8 times the step 2 -> 5; on a linear one, 5 times
    expected = math.log(21 / 6) / math.log(6 / 3)
    assert (z[20.0] - z[5.0]) / (z[5.0] - z[2.0]) == pytest.approx(expected)
    share = [scaler.transform({"share": v})[1] for v in (0.2, 0.5, 0.8)]
    assert share[1] - share[0] == pytest.approx(share[2] - share[1])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "many"])
def test_scaler_names_a_bad_feature(bad: object) -> None:
    scaler = MetaFeatureScaler().fit({"a": {"rows": 1.0, "dim": 2.0},
                                      "b": {"rows": 3.0, "dim": 4.0}})
    with pytest.raises(MetasearchError, match=r"'dim'.*new task"):
        scaler.transform({"rows": 1.0, "dim": bad})


@pytest.mark.parametrize("bad", [float("inf"), "many"])
def test_scaler_names_a_bad_stored_feature(bad: object) -> None:
    with pytest.raises(MetasearchError, match="'rows' of task 'b'"):
        MetaFeatureScaler().fit({"a": {"rows": 1.0}, "b": {"rows": bad}})


def test_scaler_reads_a_stored_nan_as_a_hole() -> None:
    stored = {"a": {"rows": 1.0}, "b": {"rows": float("nan")}, "c": {"rows": 3.0}}
    scaler = MetaFeatureScaler().fit(stored)
    assert scaler.flagged == ["rows"]
    assert scaler.transform_stored(stored["b"], "b") == pytest.approx([0.0, 1.0])


def test_scaler_round_trip() -> None:
    scaler = MetaFeatureScaler().fit({f"t{i}": {"n": 10.0 ** i, "m": float(i)} for i in range(4)})
    json.dumps(scaler.settings())
    restored = MetaFeatureScaler.restore(scaler.settings(), scaler.arrays())
    query = {"n": 55.0, "m": 1.5}
    np.testing.assert_array_equal(restored.transform(query), scaler.transform(query))


# -- similarity ------------------------------------------------------------------------------


def test_weights_are_uniform_without_information() -> None:
    data, _ = _synthetic()
    similarity = TaskSimilarity().fit(data)
    one_trial = TaskContext(x=data.tasks[data.task_ids[0]].x[:1], scores=np.array([0.5]))
    for context in (None, TaskContext(), one_trial):
        weights = similarity.weights(context)
        assert weights.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(weights, 1 / 20)
        assert not similarity.informative(context) or context is one_trial


def test_meta_features_favour_tasks_with_near_optima() -> None:
    data, held_out = _synthetic()
    similarity = TaskSimilarity(bandwidth_scale=0.5).fit(data)
    lr_opt = np.array([_task(t).lr_opt for t in data.task_ids])
    top_gain, mean_gain = [], []
    for task_id in held_out:
        task = _task(task_id)
        weights = similarity.weights(TaskContext(meta_features=task.meta_features))
        assert weights.sum() == pytest.approx(1.0) and (weights > 0).all()
        distance = np.abs(lr_opt - task.lr_opt)
        top_gain.append(distance.mean() - distance[np.argmax(weights)])
        mean_gain.append(distance.mean() - weights @ distance)
    # Measured: the top task's optimum is 0.35 decades nearer than the average one.
    assert np.mean(top_gain) > 0.2, top_gain
    assert np.mean(mean_gain) > 0.1, mean_gain


def test_support_ranking_picks_tasks_that_order_alike() -> None:
    data = _peaks({f"{kind}{i}": {} for kind in ("lo", "hi") for i in range(4)})
    similarity = TaskSimilarity().fit(data)
    lo = np.array([t.startswith("lo") for t in similarity.task_ids])
    x = np.array([[0.05], [0.2], [0.35], [0.6], [0.95]])
    weights = similarity.weights(TaskContext(x=x, scores=-((x[:, 0] - 0.2) ** 2)))
    # 5 trials, every informative pair ordered as by the 'lo' tasks: odds (7/3)^5 = 69 to 1
    assert weights[lo].sum() > 0.95
    scores = np.array([0.0, 0.1, 0.3, 0.8, np.nan])  # rising, and the last trial failed
    failed = similarity.weights(TaskContext(x=x[[0, 1, 2, 3, 1]], scores=scores))
    assert failed[~lo].sum() > 0.9
    with pytest.raises(MetasearchError, match=r"shape \(5, 2\)"):
        similarity.weights(TaskContext(x=np.zeros((5, 2)), scores=np.zeros(5)))


def test_learned_relevance_trusts_only_informative_features() -> None:
    rng = np.random.default_rng(3)
    names = [f"{kind}{i}" for kind in ("lo", "hi") for i in range(6)]
    telling = _peaks({t: {"f": float(t.startswith("lo")) + 0.05 * rng.random(),
                          "g": float(rng.random())} for t in names})
    similarity = TaskSimilarity().fit(telling)
    weights = similarity.weights(TaskContext(meta_features={"f": 1.0, "g": 0.5}))
    lo = np.array([t.startswith("lo") for t in similarity.task_ids])
    assert similarity.feature_relevance()["f"] > 0
    assert similarity.feature_relevance()["g"] == 0
    assert weights[lo].sum() > 0.85
    gains = [similarity.learned.uniform[k] - similarity.learned.learned[k]
             for k in similarity.learned.uniform]
    assert min(gains) >= 0 and max(gains) > 0.1, gains
    alike = [f"lo{i}" for i in range(12)]
    noise = _peaks({t: {"f": float(rng.random())} for t in alike})
    similarity = TaskSimilarity().fit(noise)
    assert not similarity.learned.used
    np.testing.assert_allclose(similarity.weights(TaskContext(meta_features={"f": 0.5})),
                               1 / len(alike))


def test_similarity_round_trip() -> None:
    data, held_out = _synthetic()
    similarity = TaskSimilarity().fit(data)
    settings, arrays = similarity.settings(), similarity.arrays()
    json.dumps(settings)
    restored = TaskSimilarity.restore(json.loads(json.dumps(settings)), arrays)
    task = _task(held_out[0])
    rng = np.random.default_rng(0)
    support = [FAMILY.space.sample(rng) for _ in range(5)]
    context = TaskContext(task.meta_features, _encode(support),
                          np.array([task.final_value(c) for c in support]))
    np.testing.assert_array_equal(restored.weights(context), similarity.weights(context))


# -- response models and layout --------------------------------------------------------------


def test_response_models_rank_unseen_configurations() -> None:
    data, _ = _synthetic()
    responses = TaskResponses().fit(data.subset(data.task_ids[:5]))
    rng = np.random.default_rng(1)
    configs = [FAMILY.space.sample(rng) for _ in range(200)]
    predicted = responses.predict(_encode(configs))
    for t, task_id in enumerate(responses.task_ids):
        truth = [_task(task_id).final_value(c) for c in configs]
        rho = pd.Series(predicted[:, t]).corr(pd.Series(truth), method="spearman")
        assert rho > 0.4, (task_id, rho)  # measured 0.47-0.75


def test_a_diverged_run_does_not_flatten_a_task_s_responses() -> None:
    # A loss curve that diverges (taskset: 7e16 where good configurations differ by 0.01)
    # once set the min-max scale: every other trial scored within 1e-3 of the best, and the
    # response model lost their order. Scores past a far fence are raised to it first.
    rng = np.random.default_rng(0)
    xs = rng.random(40)
    scores = -((xs - 0.3) ** 2)
    diverged = xs > 0.9  # 5 of 40, as a learning rate too high diverges
    scores[diverged] = -7e16
    rows = [{"trial_id": i, "task": "t", "config": {"x": float(x)}, "status": "complete",
             "final_value": float(s)} for i, (x, s) in enumerate(zip(xs, scores, strict=True))]
    data = MetaDataset.from_frames(family="toy", space=LINE, direction="maximize",
                                   max_budget=1, trials=pd.DataFrame(rows))
    grid = np.linspace(0.0, 0.8, 17)
    predicted = TaskResponses().fit(data).predict(grid.reshape(-1, 1))[:, 0]
    rho = pd.Series(predicted).corr(pd.Series(-((grid - 0.3) ** 2)), method="spearman")
    assert rho > 0.9, rho  # measured 0.99; min-max scaling gave 0.24, its peak at 0.7
    assert abs(float(grid[np.argmax(predicted)]) - 0.3) <= 0.1
    # Without an outlier the scaling is exactly min-max.
    plain = data.tasks["t"].filled_scores()[~diverged]
    np.testing.assert_array_equal(fenced_scores(plain), (plain - plain.min()) / np.ptp(plain))


def test_layout_decodes_what_it_encodes() -> None:
    layout = EncodingLayout.of(FAMILY.space)
    assert layout.blocks[-1].stop == FAMILY.space.encoding_length
    assert [b.kind for b in layout.blocks].count("edge") == 6
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = FAMILY.space.encode(FAMILY.space.sample(rng))
        np.testing.assert_allclose(FAMILY.space.encode(layout.decode(x)), x, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_batched_discordances_equal_the_all_pairs_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(60):
        n, n_tasks = int(rng.integers(0, 30)), int(rng.integers(1, 5))
        observed = rng.integers(0, int(rng.integers(1, 5)), n).astype(float) if case % 2 \
            else rng.normal(size=n)  # many ties, or none
        predicted = rng.integers(0, 3, (n, n_tasks)).astype(float) if case % 3 \
            else rng.normal(size=(n, n_tasks))
        expected = [_discordance(predicted[:, t], observed) for t in range(n_tasks)]
        np.testing.assert_array_equal(discordances(predicted, observed), expected)


def test_discordances_of_no_informative_pair_are_nan() -> None:
    assert np.isnan(discordances(np.zeros((3, 2)), np.ones(3))).all()
    assert discordances(np.array([[0.0, 1.0, 0.0]]).T, np.array([0.0, 1.0, 2.0]))[0] \
        == pytest.approx((0.0 + 1.0 + 0.5) / 3)
