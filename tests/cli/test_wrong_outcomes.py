"""Issue 12, item 7: inputs that used to give a wrong outcome are refused or reported."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from cli_main import assert_one_line_error, run_main

from metasearch.metamodel import MetaModel, ModelError
from metasearch.warehouse import Warehouse


def _gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.skipif(_gpus() > 7, reason="this machine has a cuda:7")
def test_an_absent_gpu_is_refused_not_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.db"
    code, _, err = run_main(capsys, "run", "-f", "synthetic", "-t", "synthetic-00",
                            "--trials", "2", "--device", "cuda:7", "-w", str(db))
    assert_one_line_error(code, err, "cuda:7", "not available")
    code, _, err = run_main(capsys, "evaluate", "-f", "synthetic", "-t", "synthetic-00",
                            "-c", "{}", "--device", "cuda:7")
    assert_one_line_error(code, err, "cuda:7")
    assert not db.exists() or Warehouse.open(db).counts()["trials"] == 0


def test_an_unknown_sampler_lists_meta(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "run", "-f", "synthetic", "-t", "synthetic-00",
                            "--sampler", "foo", "--no-warehouse")
    assert_one_line_error(code, err, "'foo'", "meta, tpe, random")


def test_a_ragged_csv_row_is_reported_as_ragged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.csv"
    path.write_text("task,trial,step,value,lr\na,0,1,0.5,0.1\na,1,1,0.6\na,2,1,0.7,0.3\n")
    code, _, err = run_main(capsys, "warehouse", "ingest-table", str(path), "-f", "mine",
                            "-w", str(tmp_path / "w.db"))
    assert_one_line_error(code, err, "row 2 (line 3) has 4 fields, the header has 5", "ragged")


def test_suggest_refuses_a_one_class_target(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.csv"
    data.write_text("x,y\n" + "".join(f"{i},yes\n" for i in range(20)))
    code, _, err = run_main(capsys, "suggest", "-f", "synthetic", "--data", str(data),
                            "--target", "y", "-w", str(tmp_path / "w.db"))
    assert_one_line_error(code, err, "one class", "'yes'")


def test_suggest_does_not_create_a_missing_study_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo.db"
    code, _, err = run_main(capsys, "suggest", "-f", "synthetic", "--storage",
                            f"sqlite:///{missing}", "--study", "s", "-w", str(tmp_path / "w.db"))
    assert_one_line_error(code, err, "no Optuna storage file", "typo.db")
    assert not missing.exists()


def test_an_edited_space_with_its_old_fingerprint_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "w.db")
    assert run_main(capsys, "warehouse", "build", "-f", "synthetic", "--tasks", "3",
                    "--trials", "4", "--device", "cpu", "-w", db)[0] == 0
    folder = tmp_path / "m"
    assert run_main(capsys, "meta-train", "-f", "synthetic", "--components", "portfolio",
                    "--out", str(folder), "-w", db, "--device", "cpu")[0] == 0
    MetaModel.load(folder)  # as written, it loads
    meta_path = folder / "metadata.json"
    meta = json.loads(meta_path.read_text())
    first = meta["space"]["params"][0] if "params" in meta["space"] else None
    assert first is not None, meta["space"]
    for key in ("high", "choices"):
        if key in first:
            first[key] = first[key] * 2 if key == "high" else [*first[key], "edited"]
            break
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="was the file edited"):
        MetaModel.load(folder)


def test_ctrl_c_on_run_exits_130_with_the_finished_trials_printed_and_stored(
        tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    child = subprocess.Popen(
        [sys.executable, "-c", "from metasearch.cli import main; main()", "run", "-f",
         "synthetic", "-t", "synthetic-00", "--trials", "1000000", "--sampler", "random",
         "--storage", storage, "--study", "s", "-w", str(db), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until some trials have finished
            time.sleep(1)
            try:
                if len(optuna.load_study(study_name="s", storage=storage).trials) >= 5:
                    break
            except KeyError:
                continue
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:  # a failed or interrupted test must not leave a million-trial run behind
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    summary = json.loads(out)
    finished = sum(summary["trials"].values())
    assert finished >= 5 and summary["trials"].get("complete", 0) >= 1
    with Warehouse.open(db) as store:  # every trial that finished evaluating is stored
        assert finished - 1 <= store.counts()["trials"] <= finished
