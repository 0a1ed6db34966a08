"""MetaDataset: frames to per-task arrays, scores oriented so higher is better."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasearch.errors import MetasearchError
from metasearch.metamodel import MetaDataset
from metasearch.spaces import Float, SearchSpace

SPACE = SearchSpace(params=(Float("x", 0.0, 1.0),))


def _frames(direction: str) -> MetaDataset:
    trials = pd.DataFrame({
        "trial_id": [1, 2, 3, 4],
        "task": ["a", "a", "a", "b"],
        "config": [{"x": 0.1}, {"x": 0.5}, {"x": 0.9}, {"x": 0.3}],
        "status": ["complete", "failed", "pruned", "complete"],
        "final_value": [0.2, None, 0.7, 0.4],
    })
    curves = pd.DataFrame({"trial_id": [1, 1, 2, 4], "step": [1, 2, 1, 1],
                           "value": [0.1, 0.2, 0.05, 0.4]})
    return MetaDataset.from_frames(family="f", space=SPACE, direction=direction, max_budget=3,
                                   trials=trials, curves=curves,
                                   meta_features={"a": {"n": 1.0}, "b": {"n": 2.0}})


def test_frames_become_histories_without_pruned_trials() -> None:
    data = _frames("maximize")
    a = data.tasks["a"]
    assert a.n_trials == 2 and a.x.shape == (2, 1)
    np.testing.assert_allclose(a.scores, [0.2, np.nan])
    np.testing.assert_allclose(a.curves[0], [0.1, 0.2, np.nan])
    np.testing.assert_allclose(a.filled_scores(), [0.2, 0.2])
    assert data.feature_names() == ["n"]


def test_curves_are_read_by_position_whatever_their_steps() -> None:
    # A table's steps may start at 0, or skip: a trial's points in step order are its curve
    # (MetaPruner reads a running trial's reports so), and none of them is dropped.
    trials = pd.DataFrame({"trial_id": [1, 2], "task": ["a", "a"],
                           "config": [{"x": 0.1}, {"x": 0.5}], "status": ["complete"] * 2,
                           "final_value": [0.3, 0.6]})
    curves = pd.DataFrame({"trial_id": [1, 1, 1, 2, 2], "step": [2, 0, 1, 10, 30],
                           "value": [0.3, 0.1, 0.2, 0.5, 0.6]})
    data = MetaDataset.from_frames(family="f", space=SPACE, direction="maximize", max_budget=3,
                                   trials=trials, curves=curves)
    np.testing.assert_allclose(data.tasks["a"].curves, [[0.1, 0.2, 0.3], [0.5, 0.6, np.nan]])


def test_minimize_flips_the_sign() -> None:
    data = _frames("minimize")
    assert data.tasks["b"].scores[0] == pytest.approx(-0.4)
    assert data.tasks["b"].curves[0][0] == pytest.approx(-0.4)


def test_subset_refuses_unknown_tasks() -> None:
    data = _frames("maximize")
    assert data.subset(["b"]).task_ids == ["b"]
    with pytest.raises(MetasearchError, match="'zz'"):
        data.subset(["zz"])


def test_synthetic_fixture_is_real_data(synthetic_data: MetaDataset) -> None:
    history = next(iter(synthetic_data.tasks.values()))
    assert history.x.shape == (60, synthetic_data.space.encoding_length)
    normalized = history.normalized_scores()
    assert normalized.min() == 0.0 and normalized.max() == 1.0
