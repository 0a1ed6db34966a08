"""The report folder: self-contained HTML, a round-tripping summary.json and the raw CSVs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from metasearch.compare import (
    RUN_COLUMNS,
    summarize,
    summary_table,
    table_notes,
    write_report,
)
from metasearch.compare._collect import summary_markdown

PROTOCOL = {"families": ["toy"], "test tasks": ["task0", "task1", "task2", "task3"],
            "budget": 20, "seeds": [0, 1, 2], "methods": ["metasearch", "tpe", "random"],
            "commands": ["metasearch compare --family toy <script>"]}


@pytest.fixture(scope="module")
def report(runs: pd.DataFrame, costs: pd.DataFrame,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    summary = summarize(runs, costs, method_of_interest="metasearch",
                        baselines=["tpe", "random"], reference="tpe", n_boot=200)
    out = tmp_path_factory.mktemp("report")
    write_report(out, runs, costs, summary, title="Toy <comparison>", protocol=PROTOCOL)
    return out, summary


def test_report_files_exist(report: tuple[Path, dict]) -> None:
    out, _ = report
    for name in ("report.html", "summary.json", "runs.csv", "costs.csv"):
        assert (out / name).stat().st_size > 0


def test_html_is_self_contained(report: tuple[Path, dict]) -> None:
    page = (report[0] / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4
    assert "src=\"http" not in page and "<script" not in page
    for name in ("metasearch", "tpe", "random", "task0", "&lt;script&gt;"):
        assert name in page
    assert "Toy &lt;comparison&gt;" in page  # escaped


def test_summary_json_round_trips(report: tuple[Path, dict]) -> None:
    out, summary = report
    assert json.loads((out / "summary.json").read_text()) == summary


def test_runs_csv_keeps_every_row_and_column(report: tuple[Path, dict],
                                             runs: pd.DataFrame) -> None:
    back = pd.read_csv(report[0] / "runs.csv")
    assert set(RUN_COLUMNS) <= set(back.columns)
    assert len(back) == len(runs)


def test_summary_recomputes_from_csv(report: tuple[Path, dict]) -> None:
    out, summary = report
    again = summarize(pd.read_csv(out / "runs.csv"), pd.read_csv(out / "costs.csv"),
                      method_of_interest="metasearch", baselines=["tpe", "random"],
                      reference="tpe", n_boot=200)
    assert again == summary  # CSV floats round-trip exactly


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, metasearch.compare; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_epochs_curve_by_hand() -> None:
    from metasearch.compare._report import epochs_curve

    runs = pd.DataFrame({
        "method": ["a", "a", "b", "b"], "task": ["t"] * 4, "seed": [0] * 4,
        "trial": [1, 2, 1, 2], "epochs": [10, 10, 2, 10], "regret": [0.5, 0.2, 0.9, 0.1],
    })
    curve = epochs_curve(runs, points=5)  # grid 0, 5, 10, 15, 20 epochs
    a = curve[curve["method"] == "a"]["regret"].tolist()
    b = curve[curve["method"] == "b"]["regret"].tolist()
    assert a == [1.0, 1.0, 0.5, 0.5, 0.2]
    assert b == [1.0, 0.9, 0.9, 0.1, 0.1]  # its 2nd trial ends at 12 epochs: after 10
    assert curve[curve["method"] == "b"]["epochs"].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]


def test_a_report_with_epochs_has_the_cost_axis_figure(runs: pd.DataFrame, costs: pd.DataFrame,
                                                       tmp_path: Path) -> None:
    with_epochs = runs.assign(epochs=5)
    summary = summarize(with_epochs, costs, method_of_interest="metasearch",
                        baselines=["tpe", "random"], reference="tpe", n_boot=100)
    write_report(tmp_path, with_epochs, costs, summary)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 5
    assert "Regret against epochs trained" in page


def test_headline_names_the_best_method_per_budget(report: tuple[Path, dict],
                                                   runs: pd.DataFrame) -> None:
    _, summary = report
    rows = {row["k"]: row for row in summary["headline"]}
    assert sorted(rows) == summary["ks"]
    last = rows[20]  # metasearch closes the gap fastest by construction (conftest.METHODS)
    assert last["best"] == "metasearch" and last["runner_up"] == "tpe"
    means = summary["regret_at"]
    assert last["margin"] == pytest.approx(means["tpe"]["20"]["mean"]
                                           - means["metasearch"]["20"]["mean"])
    assert 0 < last["p"] < 0.05 and last["pairs"] == 12
    from metasearch.compare import headline_lines

    assert headline_lines(summary)[-1].startswith("after 20 trials: metasearch best (")


def test_headline_says_when_methods_tie(runs: pd.DataFrame) -> None:
    from metasearch.compare import headline

    twin = runs[runs["method"] == "metasearch"].assign(method="twin")
    rows = headline(pd.concat([runs, twin]), [20])
    assert (rows[0]["best"], rows[0]["tied"], rows[0]["runner_up"]) == ("metasearch", ["twin"],
                                                                        "tpe")


def test_protocol_mappings_read_as_lists(runs: pd.DataFrame, costs: pd.DataFrame,
                                         tmp_path: Path) -> None:
    summary = summarize(runs, costs, method_of_interest="metasearch", baselines=["tpe"],
                        reference="tpe", n_boot=50)
    described = {**PROTOCOL, "method_descriptions": {"tpe": "Optuna's TPE", "random": "uniform"}}
    page = write_report(tmp_path, runs, costs, summary, protocol=described).read_text()
    assert "<li><b>tpe</b>: Optuna&#x27;s TPE</li>" in page and "{&#x27;" not in page
    assert page.index("<h2>Headline</h2>") < page.index("<h2>Protocol</h2>")


def test_terminal_table_fits_100_columns(report: tuple[Path, dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    _, summary = report
    long = {**summary, "methods": [*summary["methods"], "rgpe-surrogate"],
            "method_of_interest": "metasearch"}
    rows = summary_table(long, compact=True)
    table = Table(title="t")  # as metasearch.cli._output.Output.table draws it
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows[1:]:
        table.add_row(*row)
    console = Console(width=100, record=True)
    console.print(table)
    lines = console.export_text().splitlines()
    assert max(map(len, lines)) <= 100
    assert len(lines) == len(rows) + 4  # title, top, header, rule, rows, bottom: nothing wraps
    assert "[" not in "".join(lines[3:])  # no intervals in the terminal


def test_a_method_that_never_reaches_the_reference_reads_never(report: tuple[Path, dict]
                                                               ) -> None:
    """random (the slowest by construction) never reaches tpe's final regret on most tasks:
    its speed-up is "never", explained under every table, null in summary.json; not 0.00x."""
    out, summary = report
    assert json.loads((out / "summary.json").read_text())["speedup"]["random"]["tpe"] is None
    for compact in (True, False):
        rows = {row[0]: row for row in summary_table(summary, compact=compact)}
        assert rows["random"][-2] == "never" and rows["metasearch"][-2].endswith("x")
    (note,) = table_notes(summary)
    assert note.startswith("never: random did not reach tpe's final regret on most tasks")
    assert note.replace("'", "&#x27;") in (out / "report.html").read_text()
    assert note in summary_markdown(summary_table(summary), summary)
    assert "0.00x" not in (out / "report.html").read_text()
