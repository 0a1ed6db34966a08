"""A meta-model kept in the warehouse: saved and read back with every check a folder gets."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from metasearch.errors import ModelError
from metasearch.metamodel import (
    MetaDataset,
    MetaModel,
    TaskSplit,
    load_from_warehouse,
    save_to_warehouse,
)
from metasearch.spaces import Float, SearchSpace
from metasearch.warehouse import FamilySpec, RunSpec, Warehouse


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path) -> Warehouse:  # type: ignore[no-untyped-def]
    """A warehouse on each backend holding the (empty) synthetic family."""
    if request.param == "sqlite":
        url = str(tmp_path / "w.db")
    else:
        make: Callable[[], str] = request.getfixturevalue("postgres_schema")
        url = make()
    warehouse = Warehouse.open(url)
    request.addfinalizer(warehouse.close)
    return warehouse


def test_a_model_round_trips_through_the_warehouse(store: Warehouse,
                                                   synthetic_data: MetaDataset) -> None:
    store.ingest(FamilySpec(synthetic_data.family, "v", synthetic_data.direction,
                            synthetic_data.max_budget, synthetic_data.space), RunSpec("s", "t"),
                 [])
    assert load_from_warehouse(store, synthetic_data.family) is None
    model = MetaModel.train(synthetic_data, TaskSplit.make(synthetic_data.task_ids, seed=0),
                            kinds=("portfolio",))
    save_to_warehouse(model, store)
    loaded = load_from_warehouse(store, synthetic_data.family, synthetic_data.space)
    assert loaded is not None and loaded.split == model.split
    assert loaded.get("portfolio").configs(3) == model.get("portfolio").configs(3)
    other = SearchSpace([Float("x", 0.0, 1.0)])
    with pytest.raises(ModelError, match=r"the model stored in the warehouse.*not this space"):
        load_from_warehouse(store, synthetic_data.family, other)
    files = store.model_files(synthetic_data.family)
    meta = json.loads(files["metadata.json"])
    store.put_model_files(synthetic_data.family, {
        "metadata.json": json.dumps(meta).encode(), "weights.pt": b"garbage"})
    with pytest.raises(ModelError, match="checksum"):
        load_from_warehouse(store, synthetic_data.family)
