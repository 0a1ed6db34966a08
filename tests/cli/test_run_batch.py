"""``metasearch run --batch K``: K trials asked, trained together and told, each recorded."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from typer.testing import CliRunner

from metasearch.cli import app

runner = CliRunner()


def test_run_batch_tells_every_trial_and_records_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = ["run", "-f", "tabular-mlp", "-t", "iris", "--trials", "5", "--batch", "3",
            "--budget", "2", "--storage", url, "--study", "s", "--json", "--sampler", "random",
            "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    study = optuna.load_study(study_name="s", storage=url)
    assert len(study.trials) == 5
    assert all(t.state.is_finished() for t in study.trials)
    assert sum(summary["trials"].values()) == 5
    for trial in study.trials:  # the same attributes as a one-at-a-time trial
        assert trial.user_attrs["seed"] == trial.number
        assert {"metasearch_config", "cost_s", "device"} <= set(trial.user_attrs)
    from metasearch.warehouse import Warehouse

    with Warehouse.open(None) as store:
        assert len(store.trials("tabular-mlp")) == 5


def test_share_shape_gives_a_batch_one_shape_and_searches_the_rest(tmp_path: Path) -> None:
    from metasearch.families import get_family

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = ["run", "-f", "tabular-mlp", "-t", "iris", "--trials", "6", "--batch", "3",
            "--share-shape", "--budget", "1", "--storage", url, "--study", "s",
            "--sampler", "random", "--device", "cpu", "--no-warehouse", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    task = get_family("tabular-mlp").task("iris")
    trials = optuna.load_study(study_name="s", storage=url).trials
    configs = [t.user_attrs["metasearch_config"] for t in trials]
    for batch in (configs[:3], configs[3:]):
        assert len({task.batch_key(c) for c in batch}) == 1
        assert len({c["lr"] for c in batch}) == 3
    assert task.batch_key(configs[0]) != task.batch_key(configs[3])
