"""``metasearch meta-train``: fit the meta-model of a family from the warehouse and save it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from metasearch.cli._output import Output
from metasearch.cli._warehouse import WAREHOUSE, open_warehouse

if TYPE_CHECKING:
    from metasearch.metamodel import MetaModel, TaskSplit

COMPONENTS_HELP = ("Comma-separated: portfolio,prior,surrogate,rgpe,curves. Default: every one "
                   "the data can feed (the others are skipped, each with the reason).")
SPLIT_HELP = ("`all` (the default): a production model that every task trains (no validation or "
              "test task; components that early-stop train their fixed epochs instead, as "
              "MetaSampler.from_studies does). `heldout`: a seeded 70/15/15 split, saved with "
              "the model, validation figures printed, test tasks never reached: a model to "
              "evaluate (`compare --model`). Or a JSON file of {train, validation, test} task "
              "lists.")
HELD_OUT = "heldout"
"""``--split heldout``: the seeded 70/15/15 split of a model meant for evaluation."""


def default_model_dir(warehouse: str | None, family: str) -> Path:
    """``models/FAMILY`` beside the warehouse read (its default when none is named).

    This is the first folder ``MetaSampler.from_warehouse`` and ``suggest`` look in, so a
    model trained from ``-w path/wh.db`` is the one they use with the same ``-w``.
    """
    from metasearch.samplers._meta_loading import model_folders

    return model_folders(warehouse, family)[0]


def choose_split(split: str, task_ids: list[str], seed: int) -> TaskSplit:
    """The split ``--split`` names: ``all`` (the default), ``heldout`` or a JSON file.

    ``all`` is for use: the model learns from the user's whole history. It holds out no
    validation task either, because the portfolio, prior and RGPE never early-stop, so a
    validation task would only be history they never learn from (with studies of ten data
    sets, the 70/15/15 split left four out, and the model trailed ``from_studies``, which
    learns from all ten). ``heldout`` is for evaluation: a model whose test tasks (and
    validation tasks, which only early-stop and calibrate) can be searched as new ones.
    """
    from metasearch.metamodel import TaskSplit

    if split == "all":
        return TaskSplit.make(task_ids, seed=seed, validation=0.0, test=0.0)
    if split == HELD_OUT:
        return TaskSplit.make(task_ids, seed=seed)
    return TaskSplit.read(Path(split))


def meta_train(
    family: str = typer.Option(..., "--family", "-f", help="Family stored in the warehouse."),
    split: str = typer.Option("all", "--split", help=SPLIT_HELP),
    out: Path | None = typer.Option(
        None, "--out", help="Model folder (default: models/FAMILY beside an SQLite warehouse; "
        "inside a PostgreSQL warehouse, for every worker)."),
    components: str | None = typer.Option(None, "--components", help=COMPONENTS_HELP),
    seed: int = typer.Option(0, "--seed", help="Seeds the split and every component."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Meta-train on a family's warehouse history (every task by default) and save the model.

    The default is a model to use; ``--split heldout`` makes one to evaluate, and prints its
    train vs validation figures.
    """
    from metasearch.evaluation import resolve_device
    from metasearch.metamodel import MetaModel
    from metasearch.metamodel._model import reports_table
    from metasearch.metamodel._source import load_dataset, warehouse_snapshot

    where = resolve_device(device)
    kinds = [k.strip() for k in components.split(",")] if components else None
    _check_target(out, warehouse, family)
    output = Output(json_mode)
    start = time.perf_counter()
    with open_warehouse(warehouse) as store:
        data = load_dataset(store, family)
        snapshot = warehouse_snapshot(store, family)
    read_s = time.perf_counter() - start
    chosen = choose_split(split, data.task_ids, seed)
    output.line(f"{family}: {len(data.task_ids)} tasks, {snapshot['trials']} trials read in "
                f"{read_s:.1f}s; split {len(chosen.train)} train / {len(chosen.validation)} "
                f"validation / {len(chosen.test)} test")
    model = MetaModel.train(
        data, chosen, kinds=kinds, seed=seed, device=where,
        on_component=lambda kind, report: output.line(f"  {kind}: {report.seconds:.1f}s"),
        on_skip=lambda kind, why: output.line(f"  {kind}: skipped: {why}"),
    )
    model.info.update({"warehouse": snapshot, "read_seconds": read_s, "device": where,
                       "seed": seed, "total_seconds": time.perf_counter() - start})
    where = _save(model, out, warehouse)
    if json_mode:
        output.json({**model.describe(), "out": where})
        return
    if not chosen.validation:
        output.line("every task trained (a model to use, not to evaluate): no validation "
                    "figures; `--split heldout` holds tasks out and prints them")
    output.table(f"{family}: train vs validation", ["component", "metric", "train",
                                                    "validation", "seconds"],
                 reports_table(model.reports))
    output.line(f"saved to {where}")


def _check_target(out: Path | None, warehouse: str | None, family: str) -> None:
    """Refuse, before training, a model folder that holds anything but a model."""
    from metasearch.metamodel import check_model_target
    from metasearch.samplers._meta_loading import on_server

    if out is not None or not on_server(warehouse):
        check_model_target(out or default_model_dir(warehouse, family))


def _save(model: MetaModel, out: Path | None, warehouse: str | None) -> str:
    """Write the model to ``out``, else where its warehouse's users look: inside a PostgreSQL
    warehouse (every worker on every machine reads it there), else beside the SQLite file."""
    from metasearch.metamodel import save_to_warehouse
    from metasearch.samplers._meta_loading import on_server

    if out is None and on_server(warehouse):
        with open_warehouse(warehouse) as store:
            return save_to_warehouse(model, store)
    return str(model.save(out or default_model_dir(warehouse, model.family)))
