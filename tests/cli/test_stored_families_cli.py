"""A family stored only in the warehouse, as ``families`` and ``run`` see it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.errors import UnknownFamilyError
from metasearch.families import NoObjectiveError

runner = CliRunner()


def test_families_lists_a_stored_only_family_with_its_space_and_tasks(tmp_path: Path) -> None:
    from plain_history import FAMILY, history_warehouse

    where = history_warehouse(tmp_path, n_tasks=3, n_trials=4)
    listed = runner.invoke(app, ["families", "--json", "-w", where])
    assert listed.exit_code == 0, listed.output
    by_name = {f["name"]: f for f in json.loads(listed.stdout)}
    assert "synthetic" in by_name  # the registered ones stay listed
    assert len(by_name[FAMILY]["tasks"]) == 3
    assert by_name[FAMILY]["space"]["params"]
    one = runner.invoke(app, ["families", FAMILY, "-w", where])
    assert one.exit_code == 0, one.output
    assert "stored in the warehouse" in one.output
    absent = runner.invoke(app, ["families", "--json", "-w", str(tmp_path / "other.db")])
    assert FAMILY not in {f["name"] for f in json.loads(absent.stdout)}


def test_run_on_a_stored_only_family_says_it_has_no_objective(tmp_path: Path) -> None:
    from plain_history import FAMILY, history_warehouse

    where = history_warehouse(tmp_path, n_tasks=2, n_trials=3)
    task = json.loads(runner.invoke(app, ["families", FAMILY, "--json", "-w", where]).stdout
                      )[0]["tasks"][0]["id"]
    result = runner.invoke(app, ["run", "-f", FAMILY, "-t", task, "-w", where, "-n", "1"])
    assert isinstance(result.exception, NoObjectiveError), result.output
    assert "exists only in the warehouse" in str(result.exception)
    unknown = runner.invoke(app, ["run", "-f", "no-such-family", "-t", task, "-w", where])
    assert isinstance(unknown.exception, UnknownFamilyError)
    assert FAMILY in str(unknown.exception)  # names the stored families too
