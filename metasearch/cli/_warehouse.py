"""``metasearch warehouse ...``: inspect, fill, import into and export from the warehouse.

Every command takes ``--warehouse PATH_OR_URL`` (or ``$METASEARCH_WAREHOUSE``); a path that does
not exist yet becomes a new SQLite warehouse. The library is imported inside each command, so
``metasearch --help`` stays fast, and no command here imports torch unless a build trains.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from metasearch.cli._output import Output

if TYPE_CHECKING:
    from metasearch.families import TaskFamily
    from metasearch.warehouse import TaskStats, Warehouse

app = typer.Typer(
    name="warehouse",
    help="The store of every trial and learning curve: inspect, build, import, export.",
    no_args_is_help=True,
)

WAREHOUSE = typer.Option(
    None, "--warehouse", "-w", envvar="METASEARCH_WAREHOUSE", show_envvar=True,
    help="SQLite path (created if missing) or SQLAlchemy URL; default warehouse/warehouse.db.",
)
JSON = typer.Option(False, "--json", help="Print one JSON document.")
SPACE = typer.Option(
    None, "--space", help="The new family's space, given explicitly (needed for conditional "
    "parameters): a ConfigSpace JSON (conditions and forbidden clauses), metasearch's space "
    "JSON, or Optuna distributions as {name: distribution_to_json(d)} (no conditions).")
DATA = typer.Option(
    None, "--data", envvar="METASEARCH_BENCHMARKS", show_envvar=True,
    help="Public benchmark data: a folder laid out like shared/benchmarks, or the family's own.",
)


def open_warehouse(where: str | None) -> Warehouse:
    from metasearch.warehouse import Warehouse

    return Warehouse.open(where)


def _registered(name: str) -> TaskFamily | None:
    """The registered family ``name``, or None (the importers infer a new family then)."""
    from metasearch.families import family_names, get_family

    return get_family(name) if name in family_names() else None


def _missing_data(family: TaskFamily, error: type[Exception]) -> bool:
    """Whether ``family``'s benchmark data is absent (it is then left out of a full build)."""
    try:
        family.task_ids()
    except error:
        return True
    return False


def _totals(stats: list[TaskStats]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in stats:
        row = totals[s.family]
        row["tasks"] += 1
        for key in ("trials", "complete", "failed", "pruned", "curve_points"):
            row[key] += getattr(s, key)
    return totals


@app.command("ls")
def ls(warehouse: str | None = WAREHOUSE, json_mode: bool = JSON) -> None:
    """List the stored families with their task, trial and curve-point counts."""
    out = Output(json_mode)
    with open_warehouse(warehouse) as store:
        families = store.families()
        totals = _totals(store.stats())
    counted = ("tasks", "trials", "complete", "failed", "pruned", "curve_points")
    data: list[dict[str, Any]] = [
        {"name": f.name, "source": f.source, "metric": f.metric, "direction": f.direction,
         "fingerprint": f.fingerprint, **{k: totals[f.name].get(k, 0) for k in counted}}
        for f in families
    ]
    if json_mode:
        out.json({"warehouse": store.url, "families": data})
        return
    out.line(f"warehouse {store.url}")
    columns = ["family", "source", "metric", "tasks", "trials", "failed", "pruned", "points"]
    out.table("families", columns, [
        [d["name"], d["source"], f"{d['metric']} ({d['direction'][:3]})", d["tasks"],
         d["trials"], d["failed"], d["pruned"], d["curve_points"]] for d in data])


@app.command("show")
def show(
    family: str = typer.Argument(..., help="A stored family."),
    task: str | None = typer.Option(None, "--task", "-t", help="Show this task's trials."),
    top: int = typer.Option(10, "--top", min=1, help="Best trials shown with --task."),
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = JSON,
) -> None:
    """Show a family: its space and, per task, trials, curve points and best value."""
    out = Output(json_mode)
    with open_warehouse(warehouse) as store:
        record = store.family(family)
        if task is not None:
            _show_task(out, store, record.name, record.direction, task, top)
            return
        stats = store.stats(family)
        features = {t.name: t.meta_features for t in store.tasks(family)}
    tasks: list[dict[str, Any]] = [
        {"task": s.task, "trials": s.trials, "complete": s.complete, "failed": s.failed,
         "pruned": s.pruned, "curve_points": s.curve_points, "best_value": s.best_value,
         "meta_features": features.get(s.task, {})}
        for s in stats
    ]
    if json_mode:
        out.json({"name": record.name, "source": record.source, "metric": record.metric,
                  "direction": record.direction, "max_budget": record.max_budget,
                  "fingerprint": record.fingerprint, "space": record.space.to_dict(),
                  "tasks": tasks})
        return
    from metasearch.cli._families import _forbidden_text, _param_text

    space = record.space.to_dict()
    out.line(f"[bold]{record.name}[/bold] ({record.source}): {record.metric}, "
             f"{record.direction}, space {record.fingerprint}")
    for param in space["params"]:
        out.line(f"  - {_param_text(param)}")
    for cell in space["cells"]:
        out.line(f"  - {cell['name']} cell {cell['n_nodes']} nodes {{{', '.join(cell['ops'])}}}")
    for text in _forbidden_text(space):
        out.line(f"  - {text}")
    out.table(f"{record.name} tasks", ["task", "trials", "failed", "pruned", "points", "best",
                                       "meta-features"],
              [[t["task"], t["trials"], t["failed"], t["pruned"], t["curve_points"],
                t["best_value"], len(t["meta_features"])] for t in tasks])


def _show_task(out: Output, store: Warehouse, family: str, direction: str, task: str,
               top: int) -> None:
    from metasearch.errors import UnknownTaskError

    tasks = {t.name: t for t in store.tasks(family)}
    if task not in tasks:
        raise UnknownTaskError(f"no task {task!r} of family {family!r} in {store.url}")
    trials = store.trials(family, tasks=[task])
    done = trials[trials["status"] == "complete"]
    best = done.sort_values("final_value", ascending=direction == "minimize").head(top)
    rows = [{"trial_id": int(r["trial_id"]), "run": r["run"], "number": int(r["number"]),
             "final_value": r["final_value"], "test_value": r["test_value"],
             "config": r["config"]} for r in best.to_dict("records")]
    counts = trials["status"].value_counts().to_dict()
    if out.json_mode:
        out.json({"family": family, "task": task, "meta_features": tasks[task].meta_features,
                  "trials": {k: int(v) for k, v in counts.items()}, "best": rows})
        return
    out.line(f"[bold]{family}/{task}[/bold]: "
             + ", ".join(f"{v} {k}" for k, v in counts.items()))
    out.table("meta-features", ["feature", "value"], list(tasks[task].meta_features.items()))
    out.table(f"best {len(rows)} trials", ["trial", "number", "final", "test", "config"],
              [[r["trial_id"], r["number"], r["final_value"], r["test_value"], r["config"]]
               for r in rows])


@app.command("stats")
def stats(warehouse: str | None = WAREHOUSE, json_mode: bool = JSON) -> None:
    """Summarize the warehouse: location, schema, rows per table, runs and trials by kind."""
    out = Output(json_mode)
    with open_warehouse(warehouse) as store:
        counts = store.counts()
        runs = store.runs()
        totals = _totals(store.stats())
        version, url, backend = store.schema_version, store.url, store.backend
    size = None
    if backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    by_kind: dict[str, int] = defaultdict(int)
    for run in runs:
        by_kind[run.kind] += 1
    data = {"warehouse": url, "backend": backend, "schema_version": version,
            "size_bytes": size, "rows": counts, "runs_by_kind": dict(by_kind),
            "families": {name: dict(row) for name, row in totals.items()}}
    if json_mode:
        out.json(data)
        return
    shown = f", {size / 1e6:.1f} MB" if size is not None else ""
    out.line(f"warehouse {url} ({backend}, schema version {version}{shown})")
    out.table("rows", ["table", "rows"], list(counts.items()))
    out.table("runs", ["kind", "runs"], sorted(by_kind.items()))
    out.table("trials", ["family", "tasks", "trials", "complete", "failed", "pruned", "points"],
              [[name, r["tasks"], r["trials"], r["complete"], r["failed"], r["pruned"],
                r["curve_points"]] for name, r in sorted(totals.items())])


@app.command("ingest-optuna")
def ingest_optuna(
    storage: str = typer.Argument(..., help="Optuna storage: an RDB URL or a journal file."),
    studies: list[str] | None = typer.Option(
        None, "--study", "-s", help="Study name or glob (repeat; default: every study)."),
    family: str | None = typer.Option(
        None, "--family", "-f", help="Family (default: the study's metasearch_family)."),
    task: str | None = typer.Option(
        None, "--task", "-t", help="Task of a single study (default: the study's "
        "metasearch_task, else its name)."),
    source: str | None = typer.Option(
        None, "--source", help="Source key of a single study (default: "
        "optuna:<storage>#<study>)."),
    space: Path | None = SPACE,
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = JSON,
) -> None:
    """Import Optuna studies' finished trials, with intermediate values as curves.

    Each study is a task. Studies of a new family are filed in one space matched by parameter
    name (the README's "From your own past studies"); importing again adds only new trials.
    """
    from metasearch.errors import MetasearchError
    from metasearch.spaces import read_space_file
    from metasearch.warehouse import ingest_optuna as ingest_one
    from metasearch.warehouse import ingest_optuna_studies

    out = Output(json_mode)
    given = read_space_file(space) if space is not None else None
    patterns = studies or []
    single = len(patterns) == 1 and not any(c in patterns[0] for c in "*?[")
    if (task or source) and not single:
        raise MetasearchError("--task and --source name one study's task and source: give "
                              "exactly one --study NAME (no glob) with them")
    with open_warehouse(warehouse) as store:
        if single:
            summary, unfinished = ingest_one(store, storage, patterns[0], family=family,
                                             task=task, registered=_registered,
                                             source_key=source, space=given)
            done = [(patterns[0], summary, unfinished)]
        else:
            done = ingest_optuna_studies(store, storage, patterns, family=family,
                                         registered=_registered, space=given)
    rows = [{**s.to_dict(), "study": name, "unfinished_skipped": u} for name, s, u in done]
    if json_mode and not single:
        out.json({"studies": rows})
        return
    for row in rows:
        _print_summary(out, row)


@app.command("ingest-table")
def ingest_table(
    file: Path = typer.Argument(..., help="Long-format CSV or Parquet (warehouse/README.md)."),
    family: str = typer.Option(..., "--family", "-f",
                               help="Registered, stored, or new (space inferred) family."),
    meta_features: Path | None = typer.Option(
        None, "--meta-features", help="Table of task, feature columns."),
    metric: str = typer.Option("value", "--metric", help="Metric of a new family."),
    direction: str = typer.Option("maximize", "--direction", help="Direction of a new family."),
    source: str | None = typer.Option(
        None, "--source", help="Source key (default: a hash of the file)."),
    space: Path | None = SPACE,
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = JSON,
) -> None:
    """Import a long-format table: checked whole first, then stored in one transaction."""
    from metasearch.spaces import read_space_file
    from metasearch.warehouse import ingest_table as ingest

    out = Output(json_mode)
    given = read_space_file(space) if space is not None else None
    with open_warehouse(warehouse) as store:
        summary = ingest(store, file, family, registered=_registered,
                         meta_features=meta_features, source_key=source, metric=metric,
                         direction=direction, space=given)
    _print_summary(out, summary.to_dict())


def _print_summary(out: Output, data: dict[str, Any]) -> None:
    if out.json_mode:
        out.json(data)
        return
    extra = (f", {data['unfinished_skipped']} unfinished trials left out"
             if data.get("unfinished_skipped") else "")
    where = f"{data['family']}/{data['study']}" if data.get("study") else data["family"]
    out.line(f"{where}: {data['added']} trials added ({data['points']} curve points), "
             f"{data['skipped']} already stored{extra} (source {data['source_key']})")


@app.command("export")
def export(
    family: str = typer.Option(..., "--family", "-f", help="A stored family."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    out_path: Path | None = typer.Option(None, "--out", "-o",
                                         help="File to write (default: FAMILY.FORMAT)."),
    tasks: list[str] | None = typer.Option(None, "--task", "-t", help="Only these tasks."),
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = JSON,
) -> None:
    """Write a family as a long-format table (the format ingest-table reads)."""
    from metasearch.names import name_path
    from metasearch.warehouse import export_family

    out = Output(json_mode)
    path = out_path or name_path(Path(), family, f".{fmt}")
    with open_warehouse(warehouse) as store:
        rows = export_family(store, family, path, fmt, tasks=tasks or None)
    if json_mode:
        out.json({"family": family, "format": fmt, "path": str(path), "rows": rows})
    else:
        out.line(f"wrote {rows} rows of {family} to {path}")


@app.command("import")
def import_benchmark(
    family: str = typer.Argument(..., help="A public benchmark family, e.g. nats-tss."),
    data: Path | None = DATA,
    n_trials: int = typer.Option(
        100, "--trials", "-n", min=1,
        help="Configurations per task for a surrogate family (tables store every row)."),
    seed: int = typer.Option(0, "--seed", help="Seed of a surrogate family's design."),
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = JSON,
) -> None:
    """Store every tabulated trial of a benchmark family; importing again adds nothing."""
    from metasearch.families import get_family, set_data_path
    from metasearch.runs import import_family

    set_data_path(data)
    chosen = get_family(family)
    tasks = chosen.task_ids()  # a missing download fails here, before the warehouse opens
    out = Output(json_mode)
    with open_warehouse(warehouse) as store, out.progress(len(tasks), "import") as bar:
        def advance(task: str, summary: Any) -> None:
            bar.update(bar.task_ids[0], advance=1,
                       status=f"{task}: {summary.added} added, {summary.skipped} stored")

        summaries = import_family(store, chosen, n_trials=n_trials, seed=seed, on_task=advance)
    data_out = {"family": family, "warehouse": store.url, "tasks": len(summaries),
                "added": sum(s.added for s in summaries),
                "skipped": sum(s.skipped for s in summaries),
                "points": sum(s.points for s in summaries),
                "source_key": summaries[0].source_key if summaries else None}
    if json_mode:
        out.json(data_out)
        return
    out.line(f"{family}: {data_out['added']} trials added ({data_out['points']} curve points) "
             f"over {len(summaries)} tasks, {data_out['skipped']} already stored "
             f"(source {data_out['source_key']})")


@app.command("build")
def build(
    families: list[str] | None = typer.Option(
        None, "--family", "-f", help="Family to build (repeat; default: every registered)."),
    n_tasks: int | None = typer.Option(None, "--tasks", min=1,
                                       help="First N tasks of each family (default: all)."),
    n_trials: int = typer.Option(100, "--trials", "-n", min=1, help="Trials per task."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samplers and of training."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Processes (one task each)."),
    data_dir: Path | None = DATA,
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = JSON,
) -> None:
    """Fill the warehouse by searching every task of the families; resumable.

    Without ``--family``, families whose benchmark data is not found are left out.
    """
    from metasearch.evaluation import check_device
    from metasearch.families import BenchmarkDataError, family_names, get_family, set_data_path
    from metasearch.runs import plan_build, run_build

    check_device(device)
    set_data_path(data_dir)
    chosen = [get_family(name) for name in (families or family_names())]
    if not families:
        chosen = [f for f in chosen if not _missing_data(f, BenchmarkDataError)]
    out = Output(json_mode)
    with open_warehouse(warehouse) as store:
        jobs = plan_build(store, chosen, n_tasks=n_tasks, n_trials=n_trials, seed=seed)
        todo = sum(job.todo for job in jobs)
        with out.progress(todo, "build") as bar:
            def advance(family: str, task: str, result: Any) -> None:
                value = "" if result.final_value is None else f" {result.final_value:.4g}"
                bar.update(bar.task_ids[0], advance=1,
                           status=f"{family}/{task}: {result.status}{value}")

            written = run_build(store, jobs, device=device, seed=seed, workers=workers,
                                on_trial=advance)
        totals = _totals([s for f in chosen if store.has_family(f.name)
                          for s in store.stats(f.name)])
    data = {"warehouse": store.url, "written": written, "skipped_stored": sum(
        min(j.stored, j.trials) for j in jobs), "tasks": len(jobs),
        "families": {k: dict(v) for k, v in totals.items()}}
    if json_mode:
        out.json(data)
        return
    out.line(f"{written} trials written to {store.url} ({data['skipped_stored']} were stored "
             f"already, {len(jobs)} tasks)")
    out.table("families", ["family", "tasks", "trials", "failed", "pruned", "points"],
              [[k, v["tasks"], v["trials"], v["failed"], v["pruned"], v["curve_points"]]
               for k, v in sorted(totals.items())])
