"""``compare --leave-one-out``, and the command a report prints: run it, get the same runs."""

from __future__ import annotations

import html
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.metamodel import MetaModel

runner = CliRunner()


@pytest.mark.slow  # three meta-trainings and two comparisons: a few minutes on 2 cores
def test_leave_one_out_and_the_printed_command_reproduces_it(tmp_path: Path) -> None:
    """Every task is a test task of a model fitted without it; the report's command, run
    again into another folder, searches the same trials and finds the same values."""
    warehouse = str(tmp_path / "w.db")
    built = runner.invoke(app, ["warehouse", "build", "--family", "synthetic", "--tasks", "3",
                                "--trials", "12", "--warehouse", warehouse])
    assert built.exit_code == 0, built.output
    first = tmp_path / "first"
    result = runner.invoke(app, [
        "compare", "--family", "synthetic", "--warehouse", warehouse, "--leave-one-out",
        "--methods", "no-surrogate,random", "--seeds", "1", "--budget", "3",
        "--out", str(first), "--json"])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(first / "runs.csv")
    tasks = sorted(runs["task"].unique())
    assert len(tasks) == 3  # every task is a test task
    folders = sorted((first / "models").iterdir())
    assert len(folders) == 3  # one model per test task, none of which saw it
    for folder in folders:
        model = MetaModel.load(folder)
        held_out = set(tasks) - set(model.split.train) - set(model.split.validation)
        assert len(held_out) == 1 and held_out.pop() in folder.name

    report = (first / "report.html").read_text()
    (command,) = [html.unescape(block) for block in re.findall(r"<pre>(.*?)</pre>", report, re.S)
                  if "metasearch compare" in block]
    args = shlex.split(command)
    assert args[:2] == ["metasearch", "compare"] and "--leave-one-out" in args
    second = tmp_path / "second"
    again = runner.invoke(app, [*args[1:], "--out", str(second)])
    assert again.exit_code == 0, again.output
    columns = ["task", "method", "seed", "trial", "value", "state"]
    pd.testing.assert_frame_equal(runs[columns], pd.read_csv(second / "runs.csv")[columns])
