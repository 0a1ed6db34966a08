"""``metasearch meta-train``: fit the meta-model of a family from the warehouse and save it."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from metasearch.cli._output import Output
from metasearch.cli._warehouse import WAREHOUSE, open_warehouse

COMPONENTS_HELP = "Comma-separated, default all: portfolio,prior,surrogate,rgpe,curves."


def default_model_dir(family: str) -> Path:
    """``warehouse/models/<family>`` of the checkout: where shipped models live."""
    from metasearch.warehouse import default_path

    return default_path().parent / "models" / family


def meta_train(
    family: str = typer.Option(..., "--family", "-f", help="Family stored in the warehouse."),
    split: Path | None = typer.Option(
        None, "--split", help="JSON {train, validation, test} task lists; default: a seeded "
        "70/15/15 split, saved with the model."),
    out: Path | None = typer.Option(
        None, "--out", help="Model folder (default: warehouse/models/FAMILY)."),
    components: str | None = typer.Option(None, "--components", help=COMPONENTS_HELP),
    seed: int = typer.Option(0, "--seed", help="Seeds the split and every component."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Meta-train on a family's warehouse history; print train vs validation figures."""
    from metasearch.evaluation import resolve_device
    from metasearch.metamodel import COMPONENT_KINDS, MetaModel, TaskSplit
    from metasearch.metamodel._model import reports_table
    from metasearch.metamodel._source import load_dataset, warehouse_snapshot

    where = resolve_device(device)
    kinds = [k.strip() for k in components.split(",")] if components else list(COMPONENT_KINDS)
    out_dir = out or default_model_dir(family)
    output = Output(json_mode)
    start = time.perf_counter()
    with open_warehouse(warehouse) as store:
        data = load_dataset(store, family)
        snapshot = warehouse_snapshot(store, family)
    read_s = time.perf_counter() - start
    chosen = TaskSplit.read(split) if split else TaskSplit.make(data.task_ids, seed=seed)
    output.line(f"{family}: {len(data.task_ids)} tasks, {snapshot['trials']} trials read in "
                f"{read_s:.1f}s; split {len(chosen.train)} train / {len(chosen.validation)} "
                f"validation / {len(chosen.test)} test")
    model = MetaModel.train(
        data, chosen, kinds=kinds, seed=seed, device=where,
        on_component=lambda kind, report: output.line(f"  {kind}: {report.seconds:.1f}s"),
    )
    model.info.update({"warehouse": snapshot, "read_seconds": read_s, "device": where,
                       "seed": seed, "total_seconds": time.perf_counter() - start})
    folder = model.save(out_dir)
    if json_mode:
        output.json({**model.describe(), "out": str(folder)})
        return
    output.table(f"{family}: train vs validation", ["component", "metric", "train",
                                                    "validation", "seconds"],
                 reports_table(model.reports))
    output.line(f"saved to {folder}")
