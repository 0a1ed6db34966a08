"""Issue 12, item 2: family and task names are names, never paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_main import assert_one_line_error, run_main

from metasearch.errors import InvalidNameError
from metasearch.names import check_name, name_path

BAD = ["", "..", "../../../evil", "/abs/path", "a/b", "a\\b", ".hidden", "a..b", "x" * 129,
       "with space", "tab\t", "nul\x00", "é"]
GOOD = ["tabular-mlp", "yahpo-lcbench", "nats-tss", "cell-cnn", "189873", "x" * 128,
        "FixedTextRNNClassification_imdb_patch32_GRU128_bs128", "synthetic-00", "v1.2_b"]


@pytest.mark.parametrize("name", BAD)
def test_a_bad_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="not a valid name"):
        check_name(name)


@pytest.mark.parametrize("name", GOOD)
def test_shipped_names_stay_valid(name: str) -> None:
    assert check_name(name) == name
    assert name_path(Path("/m"), name).parent == Path("/m")


def test_every_registered_family_and_its_tasks_are_valid_names() -> None:
    from metasearch.families import family_names, get_family

    for family in family_names():
        check_name(family)
        try:
            tasks = get_family(family).task_ids()
        except Exception:  # benchmark data not downloaded: its tasks are not known here
            continue
        for task in tasks:
            check_name(task, "task")


TASK_BAD = ["", " padded", "padded ", "new\nline", "tab\there", "x" * 129, "bell\x07"]
TASK_GOOD = ["synthetic/synthetic-00/tpe", "my study 3", "189873", "é-ü", "x" * 128]


@pytest.mark.parametrize("name", TASK_BAD)
def test_a_bad_task_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="task name"):
        check_name(name, "task")


@pytest.mark.parametrize("name", TASK_GOOD)
def test_study_names_are_valid_task_names(name: str) -> None:
    assert check_name(name, "task") == name


def test_a_task_name_is_a_path_only_if_path_safe() -> None:
    with pytest.raises(InvalidNameError, match="cannot be a file name"):
        name_path(Path("/m"), "without-a/b", kind="task")
    assert name_path(Path("/m"), "without-a", kind="task") == Path("/m/without-a")


def test_not_text_is_refused() -> None:
    with pytest.raises(InvalidNameError, match="not text"):
        check_name(b"bytes")


TABLE = "task,trial,step,value,lr\na,0,1,0.5,0.1\n"


@pytest.mark.parametrize("family", ["", "../../../evil", "/abs/path", ".."])
def test_ingest_table_refuses_a_path_as_family(
        family: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.csv").write_text(TABLE)
    db = tmp_path / "w.db"
    code, _, err = run_main(capsys, "warehouse", "ingest-table", str(tmp_path / "t.csv"),
                            "-f", family, "-w", str(db))
    assert_one_line_error(code, err, "not a valid name")
    code, out, _ = run_main(capsys, "warehouse", "ls", "-w", str(db), "--json")
    assert code == 0 and '"families": []' in out


def test_a_table_task_that_is_a_path_is_refused_with_its_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.csv").write_text(TABLE + " up,1,1,0.4,0.2\n")
    code, _, err = run_main(capsys, "warehouse", "ingest-table", str(tmp_path / "t.csv"),
                            "-f", "mine", "-w", str(tmp_path / "w.db"))
    assert_one_line_error(code, err, "row 2", "'task'", "' up'")


@pytest.mark.parametrize("command", [
    ["meta-train", "-f", ".."], ["meta-train", "-f", ""], ["meta-train", "-f", "/abs/x"],
    ["warehouse", "export", "--family", "../../../evil"],
])
def test_no_command_turns_a_bad_family_into_a_path(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_main(capsys, *command, "-w", str(tmp_path / "w.db"))
    assert_one_line_error(code, err, "not a valid name")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "w.db") == before
    assert not (tmp_path.parent.parent.parent / "evil.parquet").exists()


def test_run_and_ingest_optuna_refuse_a_bad_task(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "run", "-f", "synthetic", "-t", "../x", "--trials", "1",
                            "-w", str(tmp_path / "w.db"))
    assert code == 2 and "Traceback" not in err, err
    import optuna

    storage = f"sqlite:///{tmp_path / 'o.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    code, _, err = run_main(capsys, "warehouse", "ingest-optuna", storage, "--study", "s",
                            "-f", "mine", "-t", "t" * 129, "-w", str(tmp_path / "w.db"))
    assert_one_line_error(code, err, "129 characters", "not a valid name")
