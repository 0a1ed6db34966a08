"""``metasearch compare``: the held-out protocol, the runs, resuming, and the files it writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from cli_main import assert_one_line_error, run_main
from typer.testing import CliRunner

from metasearch.cli import app
from metasearch.compare import collect_runs, execute, plan_compare, run_unit
from metasearch.compare._execute import open_storage
from metasearch.compare._protocols import choose_tasks
from metasearch.errors import MetasearchError
from metasearch.families import get_family
from metasearch.metamodel import MetaModel, TaskContext
from metasearch.warehouse import Warehouse

runner = CliRunner()
FAMILY = get_family("synthetic")
IDS = [f"synthetic-{i:02d}" for i in range(8)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("compare") / "w.db")
    built = runner.invoke(app, ["warehouse", "build", "--family", "synthetic", "--tasks", "8",
                                "--trials", "30", "--warehouse", db])
    assert built.exit_code == 0, built.output
    return db


def test_choose_tasks_refuses_a_leaking_split() -> None:
    with pytest.raises(MetasearchError, match="both train and test"):
        choose_tasks(IDS, IDS, train=IDS[:5], test=IDS[4:6], seed=0)
    with pytest.raises(MetasearchError, match="not tasks of the family"):
        choose_tasks(IDS, IDS, train=None, test=["nope"], seed=0)
    with pytest.raises(MetasearchError, match="no trials in the warehouse"):
        choose_tasks(IDS[:4], IDS, train=IDS[3:6], test=IDS[6:], seed=0)


def test_default_split_holds_out_and_trains_on_the_rest() -> None:
    train, test = choose_tasks(IDS, IDS, train=None, test=None, seed=3)
    assert test and not set(train) & set(test) and sorted(train + test) == IDS
    assert (train, test) == choose_tasks(IDS, IDS, train=None, test=None, seed=3)


def test_a_model_that_saw_a_test_task_is_refused(warehouse: str, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": IDS[:5], "validation": IDS[5:6], "test": IDS[6:]}))
    trained = runner.invoke(app, ["meta-train", "-f", "synthetic", "--warehouse", warehouse,
                                  "--components", "portfolio", "--split", str(split),
                                  "--out", str(model_dir), "--device", "cpu", "--json"])
    assert trained.exit_code == 0, trained.output
    with pytest.raises(MetasearchError, match="not held out"):
        plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "out",
                     test=[IDS[5], IDS[6]], model=model_dir, methods=["metasearch"])
    plan = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "out",
                        test=IDS[6:], model=model_dir, methods=["random"], seeds=1, budget=1)
    assert plan.test == IDS[6:]


def test_a_production_model_is_refused_saying_how_to_make_one_to_evaluate(
        warehouse: str, tmp_path: Path) -> None:
    model_dir = tmp_path / "production"
    trained = runner.invoke(app, ["meta-train", "-f", "synthetic", "--warehouse", warehouse,
                                  "--components", "portfolio", "--out", str(model_dir),
                                  "--device", "cpu", "--json"])
    assert trained.exit_code == 0, trained.output
    with pytest.raises(MetasearchError, match=r"trained on every task.*--split heldout"):
        plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "out",
                     test=IDS[6:], model=model_dir, methods=["metasearch"])


def test_a_heldout_model_without_test_tasks_searches_its_own_test_tasks(
        warehouse: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "heldout"
    trained = runner.invoke(app, ["meta-train", "-f", "synthetic", "--warehouse", warehouse,
                                  "--components", "portfolio", "--split", "heldout",
                                  "--out", str(model_dir), "--device", "cpu", "--json"])
    assert trained.exit_code == 0, trained.output
    split = MetaModel.load(model_dir).split
    out = tmp_path / "out"
    result = runner.invoke(app, ["compare", "-f", "synthetic", "--warehouse", warehouse,
                                 "--model", str(model_dir), "--methods", "metasearch,random",
                                 "--seeds", "1", "--budget", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    count = f"{len(split.test)} task{'' if len(split.test) == 1 else 's'}"
    assert f"the model's held-out split ({count})" in result.output
    assert sorted(_runs(out)["task"].unique()) == sorted(split.test)
    assert "test_tasks_from_model" in (out / "report.html").read_text()
    # A given --test-tasks still wins, and is still checked against the model's split.
    code, _, err = run_main(capsys, "compare", "-f", "synthetic", "--warehouse", warehouse,
                            "--model", str(model_dir), "--test-tasks", split.train[0],
                            "--methods", "metasearch", "--seeds", "1", "--budget", "1",
                            "--out", str(tmp_path / "refused"))
    assert_one_line_error(code, err, split.train[0], "not held out")


def test_unknown_methods_and_bad_budgets_are_refused(warehouse: str, tmp_path: Path) -> None:
    with pytest.raises(MetasearchError, match="unknown methods"):
        plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path, methods=["sgd"])
    with pytest.raises(MetasearchError, match="must be >= 1"):
        plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path, budget=0)
    with pytest.raises(MetasearchError, match="no data in warehouse"):
        plan_compare(family="synthetic", warehouse=str(tmp_path / "empty.db"), out=tmp_path)


def _runs(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "runs.csv")


def _nearest_training_best(warehouse: str, model_dir: Path, task: str,
                           train: list[str]) -> dict[str, Any]:
    """The flat best configuration of the training task the model finds most like ``task``
    (among those its task similarity was fitted on: the training split, not validation)."""
    model = MetaModel.load(model_dir, FAMILY.space)
    similarity = model.get("portfolio").similarity
    weights = similarity.weights(TaskContext(meta_features=FAMILY.task(task).meta_features))
    by_task = dict(zip(similarity.task_ids, weights, strict=True))
    nearest = max((t for t in train if t in by_task), key=lambda t: by_task[t])
    with Warehouse.open(warehouse) as store:
        trials = store.trials("synthetic", tasks=[nearest])
    done = trials[trials["status"] == "complete"]
    return FAMILY.space.flatten(done.loc[done["final_value"].idxmax(), "config"])


def test_compare_end_to_end_writes_the_report(warehouse: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["compare", "--family", "synthetic", "--warehouse", warehouse, "--test-tasks",
            ",".join(IDS[6:]), "--methods", "metasearch,no-warmstart,random,tpe,ws-tpe,ws-cmaes",
            "--seeds", "2", "--budget", "6", "--out", str(out), "--jobs", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("report.html", "summary.json", "runs.csv", "costs.csv", "summary.md"):
        assert (out / name).exists()
    assert "| metasearch |" in (out / "summary.md").read_text()
    runs = _runs(out)
    assert {"family", "task", "method", "seed", "trial", "value", "incumbent", "regret",
            "state", "cost_s"} <= set(runs.columns)
    assert len(runs) == 2 * 6 * 2 * 6
    assert runs.groupby(["task", "method", "seed"])["trial"].apply(list).map(
        lambda t: t == [1, 2, 3, 4, 5, 6]).all()
    assert runs["regret"].between(0, 1).all()
    # the incumbent never gets worse (maximize) and regret never rises, run by run
    for _, run in runs.groupby(["task", "method", "seed"]):
        assert run["regret"].is_monotonic_decreasing
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"][0] == "metasearch" or "metasearch" in summary["methods"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "ws-cmaes" in html

    # ws-tpe starts from the most similar training task's best configuration
    first = runs[(runs["method"] == "ws-tpe") & (runs["trial"] == 1)]
    assert first["state"].eq("complete").all()
    storage = open_storage(f"journal:{out / 'studies.journal'}")
    for task in IDS[6:]:
        best = _nearest_training_best(warehouse, out / "models" / "shared", task, IDS[:6])
        for seed in (0, 1):
            study = optuna.load_study(study_name=f"compare/synthetic/{task}/ws-tpe/seed={seed}",
                                      storage=storage)
            assert study.trials[0].params == best

    # a second run resumes: every study is finished, nothing is trained again
    before = sum(s.n_trials for s in optuna.get_all_study_summaries(storage))
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    after = sum(s.n_trials for s in optuna.get_all_study_summaries(storage))
    assert before == after
    pd.testing.assert_frame_equal(_runs(out), runs)


def test_a_partly_written_run_is_run_again(warehouse: str, tmp_path: Path) -> None:
    plan = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path,
                        test=[IDS[7]], methods=["tpe"], seeds=1, budget=5)
    unit = plan.units[0]
    storage = open_storage(unit.storage)
    study = optuna.create_study(storage=storage, study_name=unit.study_name,
                                direction="maximize")
    study.optimize(lambda t: FAMILY.space.suggest(t)["lr"], n_trials=2)  # cut short
    assert run_unit(unit) == "ran"
    runs, _, unfinished = collect_runs(plan)
    assert unfinished == 0 and list(runs["trial"]) == [1, 2, 3, 4, 5]
    assert len(optuna.load_study(study_name=unit.study_name, storage=storage).trials) == 5
    assert execute(plan) == {"done": 1}
    fresh = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "fresh",
                         test=[IDS[7]], methods=["tpe"], seeds=1, budget=5)
    execute(fresh)
    pd.testing.assert_series_equal(collect_runs(fresh)[0]["value"], runs["value"])


def test_a_run_claimed_by_another_host_is_left_to_it(warehouse: str, tmp_path: Path) -> None:
    plan = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path,
                        test=[IDS[7]], methods=["random"], seeds=1, budget=3)
    unit = plan.units[0]
    claim = optuna.create_study(storage=open_storage(unit.storage),
                                study_name=unit.study_name + "#claim")
    claim.set_user_attr("owner", "another-machine:1")
    assert run_unit(unit) == "elsewhere"
    assert collect_runs(plan)[2] == 1  # unfinished, reported as such
    claim.set_user_attr("owner", f"{__import__('socket').gethostname()}:999999999")
    assert run_unit(unit) == "ran"  # a dead process of this host: taken over


def test_same_seed_same_first_trial_across_methods_without_a_model(warehouse: str,
                                                                   tmp_path: Path) -> None:
    """Every cold-start method's first trial is the seed's random draw: the same start."""
    methods = ["random", "tpe", "gp", "cmaes"]
    plan = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path,
                        test=[IDS[7]], methods=methods, seeds=2, budget=1)
    execute(plan)
    runs, _, _ = collect_runs(plan)
    assert sorted(set(runs["method"])) == sorted(methods) and len(runs) == 8
    first = runs.groupby("seed")["value"]
    assert (first.nunique() == 1).all()  # one first value per seed, whatever the method
    assert first.first().nunique() == 2  # and another one for the other seed
    again = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "b",
                         test=[IDS[7]], methods=["random"], seeds=2, budget=1)
    execute(again)
    runs_b, _, _ = collect_runs(again)
    pd.testing.assert_series_equal(runs[runs["method"] == "random"]["value"].reset_index(
        drop=True), runs_b["value"].reset_index(drop=True))


def _quick_args(out: Path) -> list[str]:
    return ["compare", "--quick", "--out", str(out)]


@pytest.mark.slow
def test_quick_end_to_end_on_the_shipped_warehouse(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("METASEARCH_WAREHOUSE", raising=False)  # the shipped one, read only
    result = runner.invoke(app, _quick_args(tmp_path))
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_tasks"] == 4 and summary["n_seeds"] == 3


@pytest.fixture
def twin() -> Any:
    """A second family with the synthetic space, for leave-one-family-out; unregistered after."""
    from metasearch.families import _registry, register_family

    @register_family
    class Twin(type(FAMILY)):  # type: ignore[misc]
        name = "synthetic-twin"

    yield Twin.name
    _registry._FAMILIES.pop(Twin.name, None)
    _registry._INSTANCES.pop(Twin.name, None)


def test_transfer_from_another_family_trains_only_on_it(twin: str, tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    built = runner.invoke(app, ["warehouse", "build", "--family", twin, "--tasks", "5",
                                "--trials", "20", "--warehouse", db])
    assert built.exit_code == 0, built.output
    plan = plan_compare(family="synthetic", warehouse=db, out=tmp_path / "out",
                        transfer_from=[twin], test=IDS[:2], methods=["metasearch", "ws-tpe"],
                        seeds=1, budget=3)
    assert plan.train == [f"{twin}::synthetic-{i:02d}" for i in range(5)]
    assert plan.test == IDS[:2]
    from metasearch.metamodel import MetaModel

    model = MetaModel.load(plan.units[0].model_dir)
    assert model.family == "synthetic" and set(model.split.seen) == set(plan.train)
    assert plan.units[-1].warm is not None and plan.units[-1].warm.task.startswith(twin)
    execute(plan)
    runs, _, unfinished = collect_runs(plan)
    assert unfinished == 0 and len(runs) == 2 * 2 * 3


def test_transfer_from_a_family_of_another_space_is_refused(tmp_path: Path) -> None:
    warehouse = str(tmp_path / "w.db")
    built = runner.invoke(app, ["warehouse", "build", "--family", "tabular-mlp", "--tasks", "1",
                                "--trials", "2", "--warehouse", warehouse])
    assert built.exit_code == 0, built.output
    with pytest.raises(MetasearchError, match="search space differs"):
        plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path,
                     transfer_from=["tabular-mlp"])
    with pytest.raises(MetasearchError, match="being compared"):
        plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path,
                     transfer_from=["synthetic"])


@pytest.mark.postgres
def test_two_machines_share_runs_through_postgresql(warehouse: str, tmp_path: Path,
                                                    postgres_schema: Any) -> None:
    """Two compare processes on one PostgreSQL storage: each run is done once, by one."""
    import subprocess
    import sys

    url = postgres_schema()
    args = ["compare", "--family", "synthetic", "--warehouse", warehouse, "--test-tasks",
            IDS[7], "--methods", "random,tpe", "--seeds", "2", "--budget", "4",
            "--storage", url]
    code = "from metasearch.cli import main; main()"
    procs = [subprocess.Popen([sys.executable, "-c", code, *args, "--out",
                               str(tmp_path / f"m{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    studies = optuna.get_all_study_summaries(open_storage(url))
    runs = [s for s in studies if not s.study_name.endswith("#claim")]
    assert len(runs) == 2 * 2 and all(s.n_trials == 4 for s in runs)  # each run done once
    final = runner.invoke(app, [*args, "--out", str(tmp_path / "all")])
    assert final.exit_code == 0, final.output
    assert len(pd.read_csv(tmp_path / "all" / "runs.csv")) == 2 * 2 * 4


def test_methods_added_later_reuse_the_runs_of_the_same_split_only(warehouse: str,
                                                                   tmp_path: Path) -> None:
    """A later comparison (another --out, ``--storage`` at the first one's runs) adds methods
    and reuses the finished runs of the same split; one under another split is refused, not
    mixed in; runs that recorded no split are reused and counted as such."""
    first = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "first",
                         test=[IDS[7]], methods=["random"], seeds=1, budget=3)
    assert execute(first) == {"ran": 1}
    later = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "later",
                         test=[IDS[7]], methods=["random", "tpe"], seeds=1, budget=3,
                         storage=first.storage)
    assert execute(later) == {"done": 1, "ran": 1}
    runs, _, unfinished = collect_runs(later)
    assert unfinished == 0 and sorted(set(runs["method"])) == ["random", "tpe"]
    pd.testing.assert_series_equal(
        runs[runs["method"] == "random"]["value"].reset_index(drop=True),
        collect_runs(first)[0]["value"].reset_index(drop=True))

    for other in ({"test": [IDS[6], IDS[7]]}, {"test": [IDS[7]], "seed": 1}):
        moved = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "moved",
                             methods=["random"], seeds=1, budget=3, storage=first.storage,
                             **other)
        with pytest.raises(MetasearchError, match=r"another split.*random/seed=0"):
            execute(moved)

    legacy = plan_compare(family="synthetic", warehouse=warehouse, out=tmp_path / "legacy",
                          test=[IDS[5]], methods=["random"], seeds=1, budget=3)
    unit = legacy.units[0]
    old = optuna.create_study(storage=open_storage(legacy.storage),
                              study_name=unit.study_name, direction="maximize")
    old.optimize(lambda t: FAMILY.space.suggest(t)["lr"], n_trials=3)
    old.set_user_attr("compare:suggest_s", 0.1)  # finished as compare wrote runs before
    assert execute(legacy) == {"reused without a recorded split": 1, "done": 1}


def test_compare_adds_methods_to_an_earlier_comparison_s_journal(warehouse: str,
                                                                 tmp_path: Path) -> None:
    """``--storage`` given the first comparison's journal file: its runs are reused, the new
    method is run, and the report covers both."""
    common = ["compare", "--family", "synthetic", "--warehouse", warehouse, "--test-tasks",
              IDS[7], "--seeds", "1", "--budget", "3", "--json"]
    first = runner.invoke(app, [*common, "--methods", "random", "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    journal = tmp_path / "a" / "studies.journal"
    later = runner.invoke(app, [*common, "--methods", "random,tpe", "--out",
                                str(tmp_path / "b"), "--storage", str(journal)])
    assert later.exit_code == 0, later.output
    assert not (tmp_path / "b" / "studies.journal").exists()
    runs = pd.read_csv(tmp_path / "b" / "runs.csv")
    assert sorted(set(runs["method"])) == ["random", "tpe"]
    report = (tmp_path / "b" / "report.html").read_text()
    # the protocol says which runs were reused and which were run
    assert "<b>done</b>: 1" in report and "<b>ran</b>: 1" in report
