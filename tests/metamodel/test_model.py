"""MetaModel: trains the chosen components on the train split only, saves, loads, ablates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from metasearch.errors import MetasearchError
from metasearch.metamodel import MetaDataset, MetaModel, ModelError, TaskSplit
from metasearch.spaces import Float, SearchSpace

KINDS = ("portfolio", "prior", "rgpe")


@pytest.fixture(scope="module")
def trained(synthetic_data: MetaDataset) -> MetaModel:
    split = TaskSplit.make(synthetic_data.task_ids, seed=0, validation=0.2, test=0.2)
    return MetaModel.train(synthetic_data, split, kinds=KINDS, seed=0)


def test_test_tasks_never_reach_a_component(trained: MetaModel) -> None:
    assert trained.split.test
    seen = set(trained.get("portfolio").task_ids) | set(trained.get("rgpe").task_ids)
    assert seen == set(trained.split.train)
    assert not seen & set(trained.split.test)


def test_reports_have_train_and_validation(trained: MetaModel) -> None:
    report = trained.reports["portfolio"]
    assert report.train and report.validation and report.seconds > 0


def test_save_load_gives_identical_outputs(trained: MetaModel, tmp_path: Path) -> None:
    trained.save(tmp_path / "m")
    loaded = MetaModel.load(tmp_path / "m", trained.space)
    assert loaded.split == trained.split and set(loaded.components) == set(KINDS)
    assert loaded.get("portfolio").configs(5) == trained.get("portfolio").configs(5)
    x = trained.space.encode_many(trained.get("portfolio").configs(5))
    np.testing.assert_allclose(loaded.get("prior").log_density(x),
                               trained.get("prior").log_density(x))


def test_loading_for_another_space_is_one_error(trained: MetaModel, tmp_path: Path) -> None:
    trained.save(tmp_path / "m")
    with pytest.raises(ModelError, match="not this space"):
        MetaModel.load(tmp_path / "m", SearchSpace(params=(Float("x", 0, 1),)))


def test_without_switches_components_off(trained: MetaModel) -> None:
    ablated = trained.without("prior")
    assert ablated.get("prior") is None and ablated.get("portfolio") is not None
    assert trained.get("prior") is not None


def test_components_by_kind(trained: MetaModel) -> None:
    """The typed accessors return the component itself, or None where it was switched off."""
    portfolio, prior = trained.get("portfolio"), trained.get("prior")
    assert portfolio is trained.components["portfolio"] and prior is not None
    assert trained.similarity() is portfolio.similarity  # the portfolio's, first
    assert trained.without("portfolio").similarity() is prior.similarity
    assert trained.without("portfolio", "prior").similarity() is None
    rgpe = trained.components["rgpe"]
    assert trained.surrogate() is rgpe and trained.surrogate("rgpe") is rgpe  # no FSBO here
    assert trained.surrogate("surrogate") is None
    assert trained.without("rgpe").surrogate() is None
    with pytest.raises(ModelError, match="unknown surrogate kind 'gp'"):
        trained.surrogate("gp")


def test_unknown_component_and_unknown_split_tasks(synthetic_data: MetaDataset) -> None:
    split = TaskSplit.make(synthetic_data.task_ids, seed=0)
    with pytest.raises(MetasearchError, match="unknown component 'magic'"):
        MetaModel.train(synthetic_data, split, kinds=["magic"])
    with pytest.raises(MetasearchError, match="unknown tasks"):
        MetaModel.train(synthetic_data, TaskSplit(train=("nope",)), kinds=["prior"])


def test_components_the_data_cannot_feed_are_skipped_with_the_reason(
        make_synthetic_dataset) -> None:  # type: ignore[no-untyped-def]
    """Plain history: one value per trial (no curves) and a handful of trials per task."""
    import dataclasses

    few = dataclasses.replace(make_synthetic_dataset(n_tasks=4, n_trials=4), max_budget=1)
    skipped: dict[str, str] = {}
    model = MetaModel.train(few, TaskSplit.make(few.task_ids, seed=0, test=0.0),
                            on_skip=skipped.__setitem__)
    assert set(model.components) == {"portfolio", "prior"}
    assert set(skipped) == {"surrogate", "rgpe", "curves"}
    assert "max_budget >= 2" in skipped["curves"] and "7 trials" in skipped["rgpe"]
    assert model.info["skipped"] == skipped


def test_a_named_component_the_data_cannot_feed_is_an_error(
        make_synthetic_dataset) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    flat = dataclasses.replace(make_synthetic_dataset(n_tasks=3, n_trials=8), max_budget=1)
    with pytest.raises(MetasearchError, match=r"cannot train curves.*max_budget >= 2"):
        MetaModel.train(flat, TaskSplit.make(flat.task_ids, seed=0), kinds=["prior", "curves"])
