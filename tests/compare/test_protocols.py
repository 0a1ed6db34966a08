"""The comparison's protocols: what each refuses, the models it fits, the command it reruns."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from metasearch.compare import (
    ComparePlan,
    HeldOutSplit,
    LeaveOneOut,
    TransferFrom,
    method_roles,
    rerun_command,
)
from metasearch.compare._protocols import make_protocol
from metasearch.errors import MetasearchError

TASKS = ["a", "b", "c", "d"]


def _make(**options: object) -> object:
    base: dict[str, object] = {"train": None, "test": None, "leave_one_out": False,
                               "transfer_from": None, "model": None, "seed": 0, "n_test": None}
    return make_protocol(**{**base, **options})  # type: ignore[arg-type]


def test_each_protocol_refuses_the_options_it_chooses_itself() -> None:
    assert isinstance(_make(), HeldOutSplit)
    assert isinstance(_make(leave_one_out=True), LeaveOneOut)
    assert isinstance(_make(transfer_from=["other"], test=["a"]), TransferFrom)
    with pytest.raises(MetasearchError, match="--leave-one-out chooses the splits itself"):
        _make(leave_one_out=True, test=["a"])
    with pytest.raises(MetasearchError, match="--transfer-from meta-trains"):
        _make(transfer_from=["other"], model=Path("m"))


def test_leave_one_out_fits_one_model_per_test_task_without_it(tmp_path: Path) -> None:
    fits = LeaveOneOut().fits(TASKS, ["b", "d"], tmp_path)
    assert [f.test for f in fits] == [["b"], ["d"]]
    assert [f.train for f in fits] == [["a", "c", "d"], ["a", "b", "c"]]
    assert len({f.folder for f in fits}) == 2
    (shared,) = HeldOutSplit().fits(["a", "b"], ["c", "d"], tmp_path)
    assert (shared.train, shared.test) == (["a", "b"], ["c", "d"])


@pytest.mark.parametrize(("how", "expected"), [
    (HeldOutSplit(), ["--test-tasks", "c,d", "--train-tasks", "a,b"]),
    (LeaveOneOut(), ["--leave-one-out"]),
    (TransferFrom(["f1", "f2"]), ["--test-tasks", "c,d", "--transfer-from", "f1,f2"]),
])
def test_the_rerun_command_spells_out_the_protocol(how: object, expected: list[str],
                                                   tmp_path: Path) -> None:
    plan = ComparePlan("fam", ["a", "b"], ["c", "d"], ["metasearch", "tpe"], 3, 20, "journal:x",
                       tmp_path, how=how)  # type: ignore[arg-type]
    command = shlex.split(rerun_command(plan, warehouse="w.db", model=None, seed=1,
                                        device="cpu", storage=None))
    assert command == ["metasearch", "compare", "--family", "fam", *expected,
                       "--methods", "metasearch,tpe", "--seeds", "3", "--budget", "20",
                       "--seed", "1", "--device", "cpu", "--warehouse", "w.db"]


def test_roles_put_metasearch_against_the_baselines_with_tpe_as_reference() -> None:
    roles = method_roles(["no-prior", "random", "metasearch", "ws-tpe", "tpe"])
    assert (roles.focus, roles.baselines, roles.reference) == \
        ("metasearch", ["random", "ws-tpe", "tpe"], "tpe")
    alone = method_roles(["no-prior", "gp"])
    assert (alone.focus, alone.baselines, alone.reference) == ("no-prior", ["gp"], "gp")
