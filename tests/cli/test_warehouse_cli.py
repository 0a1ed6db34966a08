"""``metasearch warehouse ...`` and ``metasearch run --warehouse`` through typer's CliRunner,
and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
from typer.testing import CliRunner

from metasearch.cli import app

runner = CliRunner()


def invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_build_then_ls_show_stats(tmp_path: Path) -> None:
    where = str(tmp_path / "new" / "w.db")
    built = invoke("warehouse", "build", "-f", "synthetic", "--tasks", "2", "--trials", "5",
                   "--device", "cpu", "-w", where)
    assert (built["written"], built["tasks"]) == (10, 2)
    assert built["families"]["synthetic"]["trials"] == 10
    again = invoke("warehouse", "build", "-f", "synthetic", "--tasks", "2", "--trials", "5",
                   "-w", where)
    assert (again["written"], again["skipped_stored"]) == (0, 10)
    (family,) = invoke("warehouse", "ls", "-w", where)["families"]
    assert (family["name"], family["tasks"], family["trials"]) == ("synthetic", 2, 10)
    shown = invoke("warehouse", "show", "synthetic", "-w", where)
    assert [t["task"] for t in shown["tasks"]] == ["synthetic-00", "synthetic-01"]
    assert all(t["best_value"] is not None and t["meta_features"] for t in shown["tasks"])
    task = invoke("warehouse", "show", "synthetic", "--task", "synthetic-01", "--top", "3",
                  "-w", where)
    values = [t["final_value"] for t in task["best"]]
    assert values == sorted(values, reverse=True) and len(values) <= 3
    stats = invoke("warehouse", "stats", "-w", where)
    assert stats["schema_version"] >= 1 and stats["rows"]["trials"] == 10
    assert stats["runs_by_kind"] == {"build": 2} and stats["size_bytes"] > 0
    people = runner.invoke(app, ["warehouse", "show", "synthetic", "-w", where])
    assert people.exit_code == 0 and "synthetic-01" in people.stdout


def test_the_environment_variable_names_the_warehouse(tmp_path: Path) -> None:
    where = str(tmp_path / "env.db")
    result = runner.invoke(app, ["warehouse", "stats", "--json"],
                           env={"METASEARCH_WAREHOUSE": where})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warehouse"].endswith("env.db")


def test_ingest_table_and_export(tmp_path: Path) -> None:
    where = str(tmp_path / "w.db")
    table = pd.DataFrame({"task": ["a"] * 3 + ["b"] * 3, "trial": [0, 0, 0, 1, 1, 1],
                          "step": [1, 2, 3] * 2, "value": [0.1, 0.2, 0.3, 0.2, 0.4, 0.5],
                          "lr": [0.1] * 3 + [0.01] * 3, "act": ["relu"] * 3 + ["tanh"] * 3})
    table.to_csv(tmp_path / "t.csv", index=False)
    added = invoke("warehouse", "ingest-table", str(tmp_path / "t.csv"), "-f", "mine",
                   "-w", where)
    assert (added["added"], added["points"], added["family"]) == (2, 6, "mine")
    out = tmp_path / "export.csv"
    exported = invoke("warehouse", "export", "-f", "mine", "--format", "csv", "-o", str(out),
                      "-w", where)
    assert exported["rows"] == 6 and len(pd.read_csv(out)) == 6
    again = invoke("warehouse", "ingest-table", str(tmp_path / "t.csv"), "-f", "mine",
                   "-w", where)
    assert (again["added"], again["skipped"]) == (0, 2)


def test_run_records_each_trial_and_ingest_optuna_adds_nothing_more(tmp_path: Path) -> None:
    where, storage = str(tmp_path / "w.db"), f"sqlite:///{tmp_path / 'studies.db'}"
    invoke("run", "-f", "synthetic", "-t", "synthetic-02", "--trials", "6", "--storage",
           storage, "--study", "s", "--sampler", "random", "-w", where)
    stats = invoke("warehouse", "show", "synthetic", "-w", where)["tasks"][0]
    assert stats["trials"] == 6 and stats["curve_points"] > 0
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 6
    added = invoke("warehouse", "ingest-optuna", storage, "--study", "s", "-w", where)
    assert (added["added"], added["skipped"]) == (0, 6)
    skipped = tmp_path / "skipped.db"
    invoke("run", "-f", "synthetic", "-t", "synthetic-02", "--trials", "2", "--no-warehouse",
           "--sampler", "random",
           "-w", str(skipped))
    assert not skipped.exists()


def test_a_malformed_table_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("task,trial,step,value,lr\na,0,1,0.5,0.1\na,0,1,0.6,0.1\n")
    code = "from metasearch.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "warehouse", "ingest-table", str(tmp_path / "bad.csv"),
         "-f", "mine", "-w", str(tmp_path / "w.db")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: bad.csv: rows 1 and 2, columns task, trial, step: duplicate point "
        "(task 'a', trial 0, step 1)")
    stats = invoke("warehouse", "stats", "-w", str(tmp_path / "w.db"))
    assert stats["rows"]["trials"] == 0


def test_ingest_optuna_takes_every_study_or_a_glob(tmp_path: Path) -> None:
    where, storage = str(tmp_path / "w.db"), f"sqlite:///{tmp_path / 'studies.db'}"
    for name, high in (("svc-a", 1.0), ("svc-b", 10.0), ("rf-a", 1.0)):
        study = optuna.create_study(storage=storage, study_name=name)
        study.optimize(lambda t, h=high: t.suggest_float("C", 0.0, h), n_trials=3)
    done = invoke("warehouse", "ingest-optuna", storage, "-s", "svc-*", "-f", "svc", "-w", where)
    assert [(s["study"], s["added"]) for s in done["studies"]] == [("svc-a", 3), ("svc-b", 3)]
    shown = invoke("warehouse", "show", "svc", "-w", where)
    assert [t["task"] for t in shown["tasks"]] == ["svc-a", "svc-b"]
    assert shown["space"]["params"][0]["high"] == 10.0
    again = invoke("warehouse", "ingest-optuna", storage, "-f", "svc", "-w", where)
    assert [(s["study"], s["added"], s["skipped"]) for s in again["studies"]] == [
        ("svc-a", 0, 3), ("svc-b", 0, 3), ("rf-a", 3, 0)]
    refused = runner.invoke(app, ["warehouse", "ingest-optuna", storage, "-s", "svc-*",
                                  "--task", "t", "-f", "svc", "-w", where])
    assert refused.exit_code != 0
