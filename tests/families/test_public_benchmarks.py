"""The public benchmark families on the shared data (skipped, with the reason, without it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.families import BenchmarkDataError, TabularTask, TaskFamily, get_family
from metasearch.warehouse import Warehouse

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"public benchmark data not found at {DATA.resolve()} "
    "(see the README: download it, or set METASEARCH_BENCHMARKS)")
runner = CliRunner()
CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        "skip_connect~2|")


def fresh(name: str) -> TaskFamily:
    """A new instance of the registered family (the registry's shares resolved data)."""
    return type(get_family(name))()


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("METASEARCH_BENCHMARKS", str(DATA))
    return DATA


@pytest.mark.parametrize(("name", "folder"), [("nats-tss", "nats_tss"),
                                              ("taskset", "taskset"),
                                              ("yahpo-lcbench", "yahpo_lcbench")])
def test_missing_data_says_where_to_get_it(name: str, folder: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METASEARCH_BENCHMARKS", str(tmp_path))
    with pytest.raises(BenchmarkDataError, match=f"{folder}/.*--data PATH; get it from"):
        fresh(name).task_ids()
    result = runner.invoke(app, ["families"])
    assert result.exit_code == 0 and f"{name}: data not found" in result.output
    assert "synthetic" in result.output


@needs_data
def test_nats_tss_lookup(data: Path) -> None:
    family = fresh("nats-tss")
    assert family.task_ids() == ["cifar10_test_acc_200ep", "cifar100_test_acc_200ep"]
    task = family.task("cifar10_test_acc_200ep")
    assert isinstance(task, TabularTask)
    assert task.meta_features == pytest.approx({"n_classes": 10.0, "log_n_classes": np.log(10)})
    assert task.table.n_groups == 4930 and len(task.table.configs) == 15625
    result = task.evaluate({"cell": CELL})
    assert result.config == {"cell": CELL} and len(result.curve) == 1
    assert 93.0 < result.final_value < 94.4  # type: ignore[operator]
    best = max(task.table.group_curve(g)[0][0] for g in range(task.table.n_groups))
    assert best <= 94.38
    # Cells of one network class share one result: node 1 feeds nothing, so its input edge
    # changes nothing.
    tail = "+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|skip_connect~2|"
    dead, also_dead = f"|none~0|{tail}", f"|avg_pool_3x3~0|{tail}"
    assert task.evaluate({"cell": dead}).curve == task.evaluate({"cell": also_dead}).curve


@needs_data
def test_nats_tss_another_file_adds_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (DATA / "nats_tss" / "nats_tss_cifar.csv").read_text().splitlines()[:4]
    rows = [line.split(",") for line in lines[1:]]
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


@needs_data
def test_taskset_curves_and_failures(data: Path) -> None:
    family = fresh("taskset")
    ids = family.task_ids()
    assert len(ids) == 9 and family.max_budget == 51 and len(family.space.params) == 8
    task = family.task("FixedTextRNNClassification_imdb_patch32_IRNN64_relu_avg_bs128")
    assert isinstance(task, TabularTask)
    table = task.table
    assert len(table.configs) == 1000 and table.steps == 51
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


@needs_data
@pytest.mark.parametrize(("task_id", "config", "expected"), YAHPO_REFERENCE)
def test_yahpo_lcbench_matches_yahpo_gym(data: Path, task_id: str, config: dict[str, float],
                                         expected: float) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'metasearch[benchmarks]'")
    family = fresh("yahpo-lcbench")
    assert len(family.task_ids()) == 34 and len(family.space.params) == 7
    result = family.task(task_id).evaluate(config)
    assert len(result.curve) == 52 and result.config == config
    assert result.final_value == pytest.approx(expected, abs=1e-4)


@needs_data
def test_warehouse_import_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (DATA / "nats_tss" / "nats_tss_cifar.csv").read_text().splitlines()[:21]
    (tmp_path / "small.csv").write_text("\n".join(lines) + "\n")
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
