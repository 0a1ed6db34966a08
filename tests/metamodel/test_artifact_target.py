"""Issue 12, item 1: ``meta-train --out DIR`` never deletes what metasearch did not write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_main import assert_one_line_error, run_main

from metasearch.metamodel._artifact import ModelError, read_artifact, write_artifact

ARRAYS = {"portfolio/x": np.arange(4.0)}
META = {"family": "synthetic", "space_fingerprint": "abc"}


def _user_folder(root: Path) -> Path:
    folder = root / "v"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("important")
    return folder


def test_a_folder_with_other_files_is_refused_and_kept(tmp_path: Path) -> None:
    folder = _user_folder(tmp_path)
    with pytest.raises(ModelError, match="not a model folder"):
        write_artifact(folder, META, ARRAYS)
    assert (folder / "notes.txt").read_text() == "important" and (folder / "sub").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]  # no staging left behind


def test_a_model_folder_with_a_user_file_added_is_refused(tmp_path: Path) -> None:
    folder = write_artifact(tmp_path / "m", META, ARRAYS)
    (folder / "README").write_text("mine")
    with pytest.raises(ModelError, match="README"):
        write_artifact(folder, META, ARRAYS)
    assert (folder / "README").read_text() == "mine"


def test_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.write_text("not a folder")
    with pytest.raises(ModelError, match="not a model folder"):
        write_artifact(target, META, ARRAYS)
    assert target.read_text() == "not a folder"


def test_an_empty_folder_and_an_old_model_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_artifact(tmp_path / "empty", META, ARRAYS)
    assert read_artifact(tmp_path / "empty").metadata["family"] == "synthetic"
    write_artifact(tmp_path / "empty", {**META, "family": "other"}, ARRAYS)
    assert read_artifact(tmp_path / "empty").metadata["family"] == "other"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_meta_train_refuses_a_user_folder_before_training(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _user_folder(tmp_path)
    db = str(tmp_path / "w.db")
    code, _, err = run_main(capsys, "warehouse", "build", "-f", "synthetic", "--tasks", "3",
                            "--trials", "4", "--device", "cpu", "-w", db)
    assert code == 0, err
    code, out, err = run_main(capsys, "meta-train", "-f", "synthetic", "--components",
                              "portfolio", "--out", str(folder), "-w", db, "--device", "cpu")
    assert_one_line_error(code, err, "refusing to replace", "notes.txt")
    assert "portfolio:" not in out  # refused before any component trained
    assert (folder / "notes.txt").read_text() == "important" and (folder / "sub").is_dir()
