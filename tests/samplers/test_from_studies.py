"""MetaSampler.from_studies / MetaPruner.from_studies on real Optuna studies, and the cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from metasearch import MetaPruner, MetaSampler
from metasearch.errors import WarehouseError
from metasearch.samplers._from_studies import cache_root

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _objective(shift: float, curve: bool = False, extra: bool = False):
    """A quadratic bowl whose optimum moves a little with ``shift``: related tasks."""

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5.0, 5.0)
        kind = trial.suggest_categorical("kind", ["good", "bad"])
        if extra:
            trial.suggest_int("unused", 1, 3)
        value = (x - 1.0 - shift) ** 2 + (0.0 if kind == "good" else 4.0)
        if curve:
            for step in range(8):
                trial.report(value + 3.0 / (step + 1), step)
        return value

    return objective


def _studies(storage: str, n: int = 4, trials: int = 12, **kwargs: bool) -> list[optuna.Study]:
    made = []
    for i in range(n):
        study = optuna.create_study(storage=storage, study_name=f"bowl-{i}",
                                    sampler=optuna.samplers.RandomSampler(seed=i))
        study.optimize(_objective(0.2 * i, **kwargs), n_trials=trials)
        made.append(study)
    return made


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("METASEARCH_CACHE_DIR", str(folder))
    return folder


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "from_studies").glob("[!.]*"))


def test_learns_searches_and_caches_by_the_source_trials(tmp_path: Path, cache: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'src.db'}"
    studies = _studies(storage)
    sampler = MetaSampler.from_studies(studies, components=["portfolio", "prior", "rgpe"],
                                       seed=0)
    assert sampler.model is not None and sampler.n_warmstart == 5
    assert set(sampler.model.components) == {"portfolio", "prior", "rgpe"}
    assert sorted(sampler.model.split.train) == [f"bowl-{i}" for i in range(4)]
    (entry,) = _entries(cache)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective(0.3), n_trials=6)
    assert study.trials[0].params["kind"] == "good"  # the portfolio knows "bad" is bad
    # From the storage URL and a glob, in another process: the cached model, not a new one.
    code = ("import optuna; from metasearch import MetaSampler; "
            f"s = MetaSampler.from_studies({storage!r}, names='bowl-*', "
            "components=['portfolio', 'prior', 'rgpe']); print(s.model.info['trained_at'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sampler.model.info["trained_at"]
    assert _entries(cache) == [entry]
    # One more trial in one source study: a new fingerprint, a model learned afresh.
    studies[0].optimize(_objective(0.0), n_trials=1)
    again = MetaSampler.from_studies(studies, components=["portfolio", "prior", "rgpe"])
    assert len(_entries(cache)) == 2 and again.model is not None


def test_pruner_learns_curves_and_refuses_studies_without_them(tmp_path: Path,
                                                               cache: Path) -> None:
    with_curves = _studies(f"sqlite:///{tmp_path / 'c.db'}", n=3, trials=8, curve=True)
    pruner = MetaPruner.from_studies(with_curves)
    assert pruner.model is not None and pruner.model.get("curves") is not None
    assert pruner.model.max_budget == 8
    plain = _studies(f"sqlite:///{tmp_path / 'p.db'}", n=2, trials=4)
    with pytest.raises(ValueError, match=r"curves: .*no intermediate values"):
        MetaPruner.from_studies(plain)


def test_differing_spaces_are_matched_by_name(tmp_path: Path, cache: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    narrow = optuna.create_study(storage=storage, study_name="narrow")
    narrow.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) + 0 * len(
        t.suggest_categorical("kind", ["good"])), n_trials=4)
    wide = _studies(storage, n=2, trials=6, extra=True)
    model = MetaSampler.from_studies([narrow, *wide], components=["portfolio"]).model
    assert model is not None
    assert [p.name for p in model.space.params] == ["kind", "x"]  # "unused": not in "narrow"
    assert (model.space.param("x").low, model.space.param("x").high) == (-5.0, 5.0)
    assert model.space.param("kind").choices == ("good", "bad")
    other = optuna.create_study(storage=storage, study_name="int-x")
    other.optimize(lambda t: t.suggest_int("x", 0, 3), n_trials=2)
    with pytest.raises(WarehouseError, match=r"'x' is float in study '\w+' but int in study "
                                             r"'int-x'"):
        MetaSampler.from_studies([narrow, other])


def test_bad_sources_get_one_clear_error(tmp_path: Path, cache: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'b.db'}"
    (study,) = _studies(storage, n=1, trials=2)
    with pytest.raises(ValueError, match="at least one finished study"):
        MetaSampler.from_studies([])
    with pytest.raises(ValueError, match="given twice"):
        MetaSampler.from_studies([study, study])
    with pytest.raises(ValueError, match=r"optuna\.Study objects or a storage URL, got int"):
        MetaSampler.from_studies([study, 3])  # type: ignore[list-item]
    with pytest.raises(WarehouseError, match=r"no study matches 'svm-\*' in .*: it has bowl-0"):
        MetaSampler.from_studies(storage, names="svm-*")
    maximizing = optuna.create_study(storage=storage, study_name="up", direction="maximize")
    maximizing.optimize(lambda t: t.suggest_float("x", -5.0, 5.0), n_trials=2)
    with pytest.raises(ValueError, match="do not share a direction"):
        MetaSampler.from_studies([study, maximizing])
    assert not _entries(cache)


def test_cache_folder_argument_wins_over_the_environment(tmp_path: Path, cache: Path) -> None:
    assert cache_root() == cache
    assert cache_root(tmp_path / "mine") == tmp_path / "mine"
    studies = _studies(f"sqlite:///{tmp_path / 'a.db'}", n=2, trials=5)
    MetaSampler.from_studies(studies, components=["portfolio"], cache_dir=tmp_path / "mine")
    assert len(list((tmp_path / "mine" / "from_studies").glob("[!.]*"))) == 1
    assert not _entries(cache)
