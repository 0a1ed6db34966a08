"""The public benchmark families: on the shared data where ``METASEARCH_BENCHMARKS`` names
it, else on small stand-ins the tests write (``benchmark_fixtures``) in the data's layout.

The real-data runs check the published figures (table sizes, YAHPO Gym's predictions); the
stand-in runs check what the readers do with files laid out like the data, so that a fresh
clone without the data tests the same code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.families import BenchmarkDataError, TabularTask, TaskFamily, get_family
from metasearch.families import _registry as registry
from metasearch.warehouse import Warehouse
from tests.families import benchmark_fixtures as fixtures

runner = CliRunner()
CELL = fixtures.NATS_CELLS[0]


def fresh(name: str) -> TaskFamily:
    """A new instance of the registered family (the registry's shares resolved data)."""
    return type(get_family(name))()


@dataclass(frozen=True)
class Data:
    """Where the benchmark data is, and whether it is the real thing or the stand-ins."""

    root: Path
    real: bool


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Data:
    """``$METASEARCH_BENCHMARKS`` when set; else every stand-in, written under ``tmp_path``."""
    root = os.environ.get("METASEARCH_BENCHMARKS")
    if root:
        return Data(Path(root), real=True)
    fixtures.write_nats(tmp_path / "bench")
    fixtures.write_taskset(tmp_path / "bench")
    fixtures.write_lcbench(tmp_path / "bench")
    monkeypatch.setenv("METASEARCH_BENCHMARKS", str(tmp_path / "bench"))
    return Data(tmp_path / "bench", real=False)


@pytest.mark.parametrize(("name", "folder"), [("nats-tss", "nats_tss"),
                                              ("taskset", "taskset"),
                                              ("yahpo-lcbench", "yahpo_lcbench")])
def test_missing_data_says_where_to_get_it(name: str, folder: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METASEARCH_BENCHMARKS", str(tmp_path))
    with pytest.raises(BenchmarkDataError, match=f"{folder}/.*--data PATH; get it from"):
        fresh(name).task_ids()
    # A CLI process starts with no family instances; earlier tests in this one left the
    # registry's shared instances holding the data they resolved.
    monkeypatch.setattr(registry, "_INSTANCES", {})
    result = runner.invoke(app, ["families"])
    assert result.exit_code == 0 and f"{name}: data not found" in result.output
    assert "synthetic" in result.output


def test_nats_tss_lookup(data: Data) -> None:
    family = fresh("nats-tss")
    assert family.task_ids() == ["cifar10_test_acc_200ep", "cifar100_test_acc_200ep"]
    task = family.task("cifar10_test_acc_200ep")
    assert isinstance(task, TabularTask)
    assert task.meta_features == pytest.approx({"n_classes": 10.0, "log_n_classes": np.log(10)})
    n_rows = 15625 if data.real else 40
    assert len(task.table.configs) == n_rows
    assert task.table.n_groups == (4930 if data.real else len(
        {family.space.cells[0].network_key(c["cell"]) for c in task.table.configs}))
    result = task.evaluate({"cell": CELL})
    assert result.config == {"cell": CELL} and len(result.curve) == 1
    if data.real:
        assert 93.0 < result.final_value < 94.4  # type: ignore[operator]
    else:
        assert result.final_value == pytest.approx(fixtures.nats_rows()[0][1])
    best = max(task.table.group_curve(g)[0][0] for g in range(task.table.n_groups))
    assert best <= (94.38 if data.real else max(r[1] for r in fixtures.nats_rows()))
    # Cells of one network class share one result: node 1 feeds nothing, so its input edge
    # changes nothing.
    tail = "+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|skip_connect~2|"
    dead, also_dead = f"|none~0|{tail}", f"|avg_pool_3x3~0|{tail}"
    assert task.evaluate({"cell": dead}).curve == task.evaluate({"cell": also_dead}).curve


def _nats_lines(data: Data, n: int) -> list[str]:
    """The header and the first ``n`` rows of the NATS table (real or stand-in)."""
    return (data.root / "nats_tss" / "nats_tss_cifar.csv").read_text().splitlines()[:n + 1]


def test_nats_tss_another_file_adds_tasks(data: Data, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [line.split(",") for line in _nats_lines(data, 3)[1:]]
    (tmp_path / "extra.csv").write_text("arch,ImageNet16-120_test_acc\n" + "".join(
        f"{r[0]},{float(r[1]) / 2}\n" for r in rows))
    monkeypatch.setenv("METASEARCH_BENCHMARKS", str(tmp_path))
    family = fresh("nats-tss")
    assert family.task_ids() == ["ImageNet16-120_test_acc"]
    task = family.task("ImageNet16-120_test_acc")
    assert task.meta_features["n_classes"] == 120.0
    # A cell outside the 3-row table is answered by the nearest tabulated one.
    untabulated = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    result = task.evaluate({"cell": untabulated})
    assert result.config["cell"] in [r[0] for r in rows]


def test_taskset_curves_and_failures(data: Data) -> None:
    family = fresh("taskset")
    ids = family.task_ids()
    assert len(ids) == (9 if data.real else 2)
    assert family.max_budget == 51 and len(family.space.params) == 8
    task = family.task("FixedTextRNNClassification_imdb_patch32_IRNN64_relu_avg_bs128")
    assert isinstance(task, TabularTask)
    table = task.table
    assert len(table.configs) == (1000 if data.real else 20) and table.steps == 51
    ok = int(np.flatnonzero(~table.failed)[0])
    result = task.evaluate(table.configs[ok], budget=10)
    assert len(result.curve) == 10 and result.status == "complete"
    assert result.curve == pytest.approx(tuple(table.curves[ok, :10]))
    assert table.tests is not None and result.test_value == pytest.approx(table.tests[ok, 9])
    bad = int(np.flatnonzero(table.failed)[0])
    failed = task.evaluate(table.configs[bad])
    assert failed.status == "failed" and "NaN" in (failed.failure_reason or "")
    assert task.meta_features["cell_irnn"] == 1.0 and task.meta_features["avg_pooling"] == 1.0


# Predicted by yahpo-gym 1.0.2 (BenchmarkSet("lcbench").objective_function) on the same files.
YAHPO_REFERENCE = [
    ("3945", {"batch_size": 438, "learning_rate": 0.0006447036682716463,
              "momentum": 0.13646643630321328, "weight_decay": 0.0016625982764976244,
              "num_layers": 4, "max_units": 232, "max_dropout": 0.9127555772777217}, 59.46320343),
    ("167184", {"batch_size": 20, "learning_rate": 0.008741149231878376,
                "momentum": 0.6476927492183159, "weight_decay": 0.03837391865064573,
                "num_layers": 4, "max_units": 506, "max_dropout": 0.9808353387762301},
     64.52490997),
    ("189909", {"batch_size": 394, "learning_rate": 0.046862241307877944,
                "momentum": 0.302170258244708, "weight_decay": 0.06232248259715739,
                "num_layers": 2, "max_units": 110, "max_dropout": 0.8326441476533978},
     60.86508942),
]


@pytest.mark.parametrize(("task_id", "config", "expected"), YAHPO_REFERENCE)
def test_yahpo_lcbench_matches_yahpo_gym(data: Data, task_id: str, config: dict[str, float],
                                         expected: float) -> None:
    """On the data, yahpo-gym's predictions; on the stand-in, whose model echoes its input,
    that the epochs 1 to 52 and the task's code are fed as YAHPO Gym feeds them."""
    pytest.importorskip("onnxruntime", reason="pip install 'metasearch[benchmarks]'")
    family = fresh("yahpo-lcbench")
    assert len(family.task_ids()) == (34 if data.real else 3) and len(family.space.params) == 7
    task = family.task(task_id)
    result = task.evaluate(config)
    assert len(result.curve) == 52 and result.config == config
    if data.real:
        assert result.final_value == pytest.approx(expected, abs=1e-4)
    else:
        assert result.curve == pytest.approx([float(e) for e in range(1, 53)])
        first: np.ndarray = task.predict(config, 1)[0]  # type: ignore[attr-defined]
        code = fixtures.LCBENCH_CODES[task_id]
        assert first.tolist() == pytest.approx([code, 1.0, config["batch_size"],
                                                config["learning_rate"], config["momentum"],
                                                code], rel=1e-6)


def test_warehouse_import_is_idempotent(data: Data, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "small.csv").write_text("\n".join(_nats_lines(data, 20)) + "\n")
    monkeypatch.delenv("METASEARCH_BENCHMARKS", raising=False)
    where = tmp_path / "w.db"
    args = ["warehouse", "import", "nats-tss", "--data", str(tmp_path / "small.csv"),
            "--warehouse", str(where), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["added"] == 40
    again = json.loads(runner.invoke(app, args).output)
    assert again["added"] == 0 and again["skipped"] == 40
    with Warehouse.open(where) as store:
        assert {t.name for t in store.tasks("nats-tss")} == {"cifar10_test_acc_200ep",
                                                             "cifar100_test_acc_200ep"}


def test_import_without_data_is_one_clear_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METASEARCH_BENCHMARKS", raising=False)
    result = runner.invoke(app, ["warehouse", "import", "taskset", "--data", str(tmp_path),
                                 "--warehouse", str(tmp_path / "w.db")])
    assert isinstance(result.exception, BenchmarkDataError)  # main() prints it, exits 2
    assert "get it from" in str(result.exception) and not (tmp_path / "w.db").exists()
