"""Reading a family's history out of the warehouse into a :class:`MetaDataset`.

The one place the meta-model touches storage: everything after this works on plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from metasearch.metamodel._data import MetaDataset

if TYPE_CHECKING:
    from metasearch.warehouse import Warehouse

__all__ = ["load_dataset", "warehouse_snapshot"]


def load_dataset(store: Warehouse, family: str,
                 tasks: Sequence[str] | None = None) -> MetaDataset:
    """The stored trials, curves and meta-features of ``family`` (only ``tasks`` if given).

    The space is the one stored with the family: every stored configuration was checked
    against it.
    """
    record = store.family(family)
    trials = store.trials(family, tasks=tasks)
    curves = store.curves(family, tasks=tasks)
    features = {t.name: dict(t.meta_features) for t in store.tasks(family)}
    # Curves are read by position (MetaDataset.from_frames): the budget is the most points a
    # trial has, or the family's own when larger (a table of steps 0..n-1 has n points).
    longest = int(curves.groupby("trial_id").size().max()) if len(curves) else 1
    budget = max(record.max_budget or 1, longest)
    return MetaDataset.from_frames(
        family=family, space=record.space, direction=record.direction, max_budget=budget,
        trials=trials, curves=curves, meta_features=features,
    )


def warehouse_snapshot(store: Warehouse, family: str) -> dict[str, Any]:
    """What a model records of the data it saw: where, how much, and the space's fingerprint."""
    stats = store.stats(family)
    return {
        "url": store.url,
        "fingerprint": store.family(family).fingerprint,
        "tasks": len(stats),
        "trials": int(sum(s.trials for s in stats)),
        "curve_points": int(sum(s.curve_points for s in stats)),
    }
