"""``metasearch compare``: metasearch against cold- and warm-start baselines on held-out tasks."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from metasearch.cli._output import Output
from metasearch.cli._warehouse import DATA, WAREHOUSE
from metasearch.errors import MetasearchError, redact_url
from metasearch.samplers import METHODS


def _split_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise MetasearchError(f"an empty list: {text!r}")
    return items


def compare(
    family: str | None = typer.Option(None, "--family", "-f", help="Task family to compare "
                                      "on (its tasks and warehouse data); one stored only in "
                                      "the warehouse is replayed or searched on per-task "
                                      "surrogates."),
    train_tasks: str | None = typer.Option(None, "--train-tasks", help="Comma-separated "
                                           "tasks to meta-train on (default: every stored "
                                           "task that is not a test task)."),
    test_tasks: str | None = typer.Option(None, "--test-tasks", help="Comma-separated "
                                          "held-out tasks to search (default: --model's "
                                          "recorded test tasks, else a seeded 20%)."),
    leave_one_out: bool = typer.Option(False, "--leave-one-out", help="Every task is a test "
                                       "task once, searched with a model meta-trained on all "
                                       "the others."),
    transfer_from: str | None = typer.Option(None, "--transfer-from", help="Leave-one-family-"
                                             "out: meta-train on these families' tasks "
                                             "(comma-separated; same search space) and search "
                                             "FAMILY's tasks."),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated (default "
                                       f"all): {', '.join(METHODS)}."),
    seeds: int = typer.Option(10, "--seeds", help="Seeds per (task, method)."),
    budget: int = typer.Option(50, "--budget", help="Trials per run."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes."),
    storage: str | None = typer.Option(None, "--storage", help="Optuna storage URL shared by "
                                       "several machines, or a journal file path, e.g. an "
                                       "earlier comparison's OUT/studies.journal to add "
                                       "methods to it (default: a journal file in --out)."),
    model: Path | None = typer.Option(None, "--model", help="A meta-model to use instead of "
                                      "meta-training here; its split must hold out every "
                                      "test task (without --test-tasks: the tasks it held "
                                      "out as test tasks)."),
    out: Path = typer.Option(Path("compare-out"), "--out", help="Output folder: report.html, "
                             "summary.json, runs.csv, costs.csv, studies and models."),
    quick: bool = typer.Option(False, "--quick", help="A first look in a few minutes on two "
                               "cores: the synthetic family, 4 held-out tasks, 3 seeds, 20 "
                               "trials, 7 methods."),
    seed: int = typer.Option(0, "--seed", help="Seeds the task split and meta-training."),
    device: str = typer.Option("cpu", "--device", help="Where trials train: cpu, cuda, "
                               "cuda:N."),
    warehouse: str | None = WAREHOUSE,
    data: Path | None = DATA,
    json_mode: bool = typer.Option(False, "--json", help="Print summary.json instead of the "
                                   "table."),
) -> None:
    """Search held-out tasks with metasearch and baselines; write an HTML report and CSVs."""
    from metasearch.compare import (
        QUICK,
        execute,
        finish_compare,
        headline_lines,
        plan_compare,
        rerun_command,
        summary_table,
        table_notes,
    )
    from metasearch.evaluation import check_device
    from metasearch.families import set_data_path

    check_device(device)
    set_data_path(data)
    if storage is not None:
        from metasearch.warehouse import open_storage

        open_storage(storage, create=True)  # a bad URL or a server down: one line, now
    runs_in = (storage if storage is None or "://" in storage
               else f"journal:{Path(storage).expanduser().resolve()}")  # a journal file
    n_test = None
    if quick:
        family = family or "synthetic"
        seeds, budget, n_test = QUICK["seeds"], QUICK["budget"], QUICK["n_test"]
        methods = methods or ",".join(QUICK["methods"])
        jobs = max(jobs, 2)
    if family is None:
        raise MetasearchError("--family is required (or --quick)")
    if jobs < 1:
        raise MetasearchError(f"--jobs must be >= 1, got {jobs}")
    output = Output(json_mode)
    started = time.perf_counter()
    plan = plan_compare(
        family=family, warehouse=warehouse, out=out, train=_split_list(train_tasks),
        test=_split_list(test_tasks), leave_one_out=leave_one_out,
        methods=_split_list(methods), seeds=seeds, budget=budget, storage=runs_in,
        model=model, seed=seed, device=device, n_test=n_test,
        transfer_from=_split_list(transfer_from), on_status=output.line)
    output.line(f"{family}: {len(plan.train)} train / {len(plan.test)} test tasks, "
                f"{len(plan.methods)} methods x {seeds} seeds x {budget} trials = "
                f"{len(plan.units)} runs in {jobs} process(es); studies in "
                f"{redact_url(plan.storage)}")
    with output.progress(len(plan.units), "runs") as bar:
        def advance(unit: object, outcome: str) -> None:
            bar.update(bar.task_ids[0], advance=1,
                       status=f"{getattr(unit, 'method', '')} on {getattr(unit, 'task', '')}")

        counts = execute(plan, jobs=jobs, on_done=advance)
    command = rerun_command(plan, warehouse=warehouse, model=model, seed=seed, device=device,
                            storage=storage, data=data)
    result = finish_compare(plan, counts, command=command, started=started)
    if result.unfinished:
        output.line(f"{result.unfinished} runs are unfinished or running on another machine; "
                    "the report covers the finished ones (run the same command again later)")
    summary = result.summary
    if json_mode:
        output.json(summary)
        return
    for line in headline_lines(summary):
        output.line(line)
    compact = summary_table(summary, compact=True)
    output.table(f"{family}: mean normalized regret, {len(plan.test)} held-out tasks x "
                 f"{seeds} seeds", compact[0], compact[1:])
    output.line(f"p: one-sided Wilcoxon, {summary['method_of_interest']} better than the "
                "row, Holm-adjusted; 95% intervals in the report and --json")
    for note in table_notes(summary):
        output.line(note)
    output.line(f"report: {result.report}  (runs.csv, costs.csv, summary.json, summary.md "
                f"beside it); {time.perf_counter() - started:.0f}s")
