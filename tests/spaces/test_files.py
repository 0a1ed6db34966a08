"""Space files: Optuna distributions ({name: distribution_to_json}) beside ConfigSpace's JSON
and metasearch's own, each malformed file refused with one error that names it."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from cli_main import assert_one_line_error, run_main
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.errors import SpaceError
from metasearch.spaces import Categorical, Float, Int, SearchSpace, read_space_file
from metasearch.warehouse import Warehouse

DISTRIBUTIONS = {
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
    "layers": IntDistribution(1, 8, step=1),
    "width": IntDistribution(16, 256, step=16),
    "act": CategoricalDistribution(["relu", "tanh"]),
}
EXPECTED = SearchSpace((Categorical("act", ("relu", "tanh")), Int("layers", 1, 8),
                        Float("lr", 1e-4, 1e-1, log=True), Int("width", 16, 256, step=16)))


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_optuna_distributions_as_strings_or_objects(tmp_path: Path) -> None:
    as_strings = {n: distribution_to_json(d) for n, d in DISTRIBUTIONS.items()}
    assert read_space_file(write(tmp_path / "a.json", as_strings)) == EXPECTED
    as_objects = {n: json.loads(text) for n, text in as_strings.items()}
    assert read_space_file(write(tmp_path / "b.json", as_objects)) == EXPECTED
    # each distribution comes back as the one the space hands Optuna
    assert EXPECTED.distributions() == DISTRIBUTIONS


@pytest.mark.parametrize(("entry", "problem"), [
    ('{"name": "NoSuchDistribution", "attributes": {}}', "'lr': not an Optuna distribution"),
    ('{"name": "FloatDistribution", "attributes": {"low": 1}}', "'lr': not an Optuna"),
    ('{"name": "FloatDistribution", "attributes": {"low": 2, "high": 1, "log": false, '
     '"step": null}}', "'lr': not an Optuna"),
    ('{"name": "FloatDistribution", "attributes": {"low": 0.1, "high": 1, "log": false, '
     '"step": null}', "'lr': not an Optuna"),
])
def test_a_malformed_distribution_is_one_error_naming_file_and_parameter(
        tmp_path: Path, entry: str, problem: str) -> None:
    path = write(tmp_path / "dists.json", {"lr": entry, "act": distribution_to_json(
        DISTRIBUTIONS["act"])})
    with pytest.raises(SpaceError, match=rf"dists\.json: parameter {problem}"):
        read_space_file(path)


def test_a_file_in_no_format_says_which_it_accepts(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="nor Optuna distributions"):
        read_space_file(write(tmp_path / "x.json", {"lr": [0.1, 1.0]}))


def test_a_study_ingested_with_its_distributions(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=storage,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True)
                   * t.suggest_int("layers", 1, 8), n_trials=5)
    space = write(tmp_path / "space.json", {"lr": distribution_to_json(DISTRIBUTIONS["lr"]),
                                            "layers": distribution_to_json(
                                                IntDistribution(1, 10))})
    where = str(tmp_path / "w.db")
    result = CliRunner().invoke(app, ["warehouse", "ingest-optuna", storage, "-s", "s", "-f",
                                      "mine", "--space", str(space), "-w", where])
    assert result.exit_code == 0, result.output
    with Warehouse.open(where) as store:  # the given space, not the one the trials imply
        assert store.family("mine").space.param("layers") == Int("layers", 1, 10)
    broken = write(tmp_path / "broken.json", {"lr": '{"name": "Nope", "attributes": {}}'})
    code, _, err = run_main(capsys, "warehouse", "ingest-optuna", storage, "-s", "s", "-f",
                            "other", "--space", str(broken), "-w", where)
    assert_one_line_error(code, err, "broken.json: parameter 'lr': not an Optuna distribution")


def test_optuna_distributions_carry_no_conditions(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=storage,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True) if t.suggest_categorical(
        "act", ["relu", "tanh"]) == "relu" else 0.5, n_trials=8)
    space = write(tmp_path / "space.json", {n: distribution_to_json(DISTRIBUTIONS[n])
                                            for n in ("lr", "act")})
    code, _, err = run_main(capsys, "warehouse", "ingest-optuna", storage, "-s", "s", "-f",
                            "mine", "--space", str(space), "-w", str(tmp_path / "w.db"))
    assert_one_line_error(code, err, "configuration lacks 'lr'")
