"""Task splits: reproducible, disjoint, and refusing leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metasearch.errors import MetasearchError
from metasearch.metamodel import TaskSplit

IDS = [f"t{i:02d}" for i in range(20)]


def test_make_is_reproducible_and_order_free() -> None:
    a = TaskSplit.make(IDS, seed=3)
    assert a == TaskSplit.make(list(reversed(IDS)), seed=3)
    assert a != TaskSplit.make(IDS, seed=4)
    assert sorted(a.train + a.validation + a.test) == IDS
    assert (len(a.validation), len(a.test)) == (3, 3)


def test_overlap_and_leaks_are_refused() -> None:
    with pytest.raises(MetasearchError, match="'t01' is in both train and test"):
        TaskSplit(train=("t00", "t01"), test=("t01",))
    split = TaskSplit(train=("t00",), validation=("t01",), test=("t02",))
    split.check_held_out(["t02"])
    with pytest.raises(MetasearchError, match=r"\['t01'\].*not held out"):
        split.check_held_out(["t01", "t02"])
    with pytest.raises(MetasearchError, match="unknown tasks"):
        split.check_known(["t00", "t01"])


def test_file_round_trip_and_errors(tmp_path: Path) -> None:
    split = TaskSplit.make(IDS, seed=1)
    path = tmp_path / "split.json"
    path.write_text(json.dumps(split.to_dict()))
    assert TaskSplit.read(path) == split
    path.write_text("[1, 2]")
    with pytest.raises(MetasearchError, match="JSON object"):
        TaskSplit.read(path)
    with pytest.raises(MetasearchError, match="cannot read split file"):
        TaskSplit.read(tmp_path / "absent.json")
