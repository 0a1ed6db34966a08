"""``compare --data``: public benchmark data found as ``families`` and ``warehouse`` find it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.families import BenchmarkDataError

DATA = Path(os.environ.get("METASEARCH_BENCHMARKS") or "/nonexistent")
runner = CliRunner()


def test_missing_data_is_the_same_message_as_warehouse_import(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              ) -> None:
    monkeypatch.delenv("METASEARCH_BENCHMARKS", raising=False)
    where = ["--warehouse", str(tmp_path / "w.db"), "--data", str(tmp_path)]
    compared = runner.invoke(app, ["compare", "-f", "taskset", "--out", str(tmp_path / "o"),
                                   *where])
    imported = runner.invoke(app, ["warehouse", "import", "taskset", *where])
    assert isinstance(compared.exception, BenchmarkDataError)  # main() prints it, exits 2
    assert str(compared.exception) == str(imported.exception)
    assert "pass --data PATH; get it from" in str(compared.exception)


def test_a_data_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", "-f", "taskset", "--data", str(tmp_path / "nope"),
                                 "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, BenchmarkDataError)
    assert "nope" in str(result.exception) and "no such file or folder" in str(result.exception)


@pytest.mark.skipif(not (DATA / "yahpo" / "iaml_glmnet").is_dir(),
                    reason="YAHPO iaml_glmnet needs $METASEARCH_BENCHMARKS set to the shared data")
def test_compare_finds_a_yahpo_scenario_through_data(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'metasearch[benchmarks]'")
    monkeypatch.delenv("METASEARCH_BENCHMARKS", raising=False)
    common = ["--data", str(DATA), "--warehouse", str(tmp_path / "w.db")]
    imported = runner.invoke(app, ["warehouse", "import", "yahpo-iaml_glmnet", "--trials", "8",
                                   *common])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(app, ["compare", "-f", "yahpo-iaml_glmnet", "--methods", "random",
                                 "--seeds", "1", "--budget", "2", "--test-tasks", "1489",
                                 "--out", str(tmp_path / "o"), "--json", *common])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["methods"] == ["random"]
    assert f"--data {DATA}" in (tmp_path / "o" / "report.html").read_text()
