"""The CLI through typer's CliRunner, and once as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from metasearch.cli import app

runner = CliRunner()


def _main(args: list[str]) -> tuple[int, str, str]:
    """Run the installed ``metasearch`` console script (or its entry point) in a subprocess."""
    script = shutil.which("metasearch")
    entry = [sys.executable, "-c", "from metasearch.cli import main; main()"]
    command = [script] if script else entry
    done = subprocess.run(
        [*command, *args],
        capture_output=True, text=True, timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from metasearch.cli import app; from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, ['--help']); print(r.exit_code, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]


def test_families_json_lists_spaces_and_tasks() -> None:
    result = runner.invoke(app, ["families", "synthetic", "--json"])
    assert result.exit_code == 0, result.output
    (family,) = json.loads(result.stdout)
    assert family["name"] == "synthetic" and family["n_tasks"] == len(family["tasks"])
    assert {"lr", "optimizer"} <= {p["name"] for p in family["space"]["params"]}
    assert family["space"]["cells"][0]["n_nodes"] == 4
    assert "log_rows" in family["tasks"][0]["meta_features"]


def test_run_finds_a_good_configuration_and_prints_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = ["run", "-f", "synthetic", "-t", "synthetic-00", "--trials", "12", "--storage", url,
            "--study", "s", "--json", "--sampler", "random", "--no-warehouse"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    study = optuna.load_study(study_name="s", storage=url)
    assert len(study.trials) == 12
    assert summary["best_value"] == pytest.approx(study.best_value)
    assert summary["best_config"] == study.best_trial.user_attrs["metasearch_config"]
    # A second process joining the same study adds to it.
    assert runner.invoke(app, args).exit_code == 0
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 24


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "-f", "nope", "-t", "x"], "unknown family 'nope'"),
        (["run", "-f", "synthetic", "-t", "x"], "unknown task 'x'"),
        (["run", "-f", "synthetic", "-t", "synthetic-00", "--device", "tpu"],
         "unknown device 'tpu'"),
        (["run", "-f", "synthetic", "-t", "synthetic-00", "--sampler", "magic"],
         "unknown sampler 'magic'"),
        (["run", "-f", "synthetic", "-t", "synthetic-00", "--sampler", "meta", "--model",
          "/no/such/model", "--no-warehouse"], "no model at /no/such/model"),
        (["evaluate", "-f", "synthetic", "-t", "synthetic-00", "-c", '{"lr": 9}'],
         "lr=9 is outside the space"),
        (["evaluate", "-f", "synthetic", "-t", "synthetic-00", "-c", "{oops"],
         "not valid JSON"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    code, _, err = _main(args)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_invalid_cell_string_names_the_bad_value() -> None:
    config = {"lr": 0.001, "weight_decay": 1e-4, "width": 64, "dropout": 0.2,
              "optimizer": "adam", "cell": "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"}
    code, _, err = _main(["evaluate", "-f", "synthetic", "-t", "synthetic-00",
                          "-c", json.dumps(config)])
    assert code == 2 and "conv" in err and "nor_conv_3x3" in err


def test_evaluate_prints_the_curve() -> None:
    config = {"lr": 0.002, "weight_decay": 1e-4, "width": 64, "dropout": 0.2,
              "optimizer": "adam", "cell": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
              "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"}
    result = runner.invoke(app, ["evaluate", "-f", "synthetic", "-t", "synthetic-00", "-c",
                                 json.dumps(config), "--budget", "5", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "complete" and len(data["curve"]) == 5


def test_a_usage_error_is_clicks_message_and_exit_2() -> None:
    code, _, err = _main(["run", "--no-such-option"])
    assert code == 2
    assert "No such option" in err and "Traceback" not in err


def test_run_with_meta_sampler_and_pruner_uses_the_model(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = ["run", "-f", "synthetic", "-t", "synthetic-35", "--trials", "8", "--storage", url,
            "--study", "m", "--json", "--sampler", "meta", "--pruner", "meta",
            "--no-warehouse"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="m", storage=url)
    assert len(study.trials) == 8
    # the first trials are the shipped model's warm-start portfolio, proposed by MetaSampler
    assert all("metasearch:proposal" in t.system_attrs for t in study.trials[:5])


def test_run_refuses_an_unknown_pruner_and_a_stray_model() -> None:
    result = runner.invoke(app, ["run", "-f", "synthetic", "-t", "synthetic-35", "--pruner",
                                 "hyperband", "--no-warehouse"])
    assert result.exit_code != 0 and "unknown pruner" in str(result.exception)
    result = runner.invoke(app, ["run", "-f", "synthetic", "-t", "synthetic-35", "--model",
                                 "x", "--no-warehouse"])
    assert result.exit_code != 0 and "--model is for" in str(result.exception)
