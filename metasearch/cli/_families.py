"""``metasearch families``: every family (registered or stored), its space and tasks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from metasearch.cli._output import Output
from metasearch.cli._warehouse import WAREHOUSE, open_warehouse

if TYPE_CHECKING:
    from metasearch.errors import MetasearchError
    from metasearch.families import TaskFamily


def _param_text(param: dict[str, Any]) -> str:
    from metasearch.spaces import clause_from_dict

    if "choices" in param:
        body = "{" + ", ".join(map(str, param["choices"])) + "}"
    else:
        body = f"[{param['low']}, {param['high']}]" + (" log" if param.get("log") else "")
    condition = param.get("condition")
    when = f" if {clause_from_dict(condition).describe()}" if condition else ""
    return escape(f"{param['name']} {param['kind']} {body}{when}")


def _forbidden_text(space: dict[str, Any]) -> list[str]:
    """One line per forbidden clause of a space's JSON description."""
    from metasearch.spaces import clause_from_dict

    return [escape(f"forbidden: {clause_from_dict(c).describe()}")
            for c in space.get("forbidden", [])]


def families(
    family: str | None = typer.Argument(None, help="Show only this family, with every task."),
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document."),
    data: Path | None = typer.Option(
        None, "--data", envvar="METASEARCH_BENCHMARKS", show_envvar=True,
        help="Folder of the public benchmark data (laid out like shared/benchmarks)."),
    warehouse: str | None = WAREHOUSE,
) -> None:
    """List task families (registered, and stored only in the warehouse), spaces and tasks."""
    from metasearch.families import load_errors, set_data_path

    set_data_path(data)
    out = Output(json_mode)
    found = _families(family, warehouse)
    for where, why in load_errors().items():  # on stderr, so --json output stays clean
        out.err.print(f"warning: {where} failed to load: {why}", highlight=False, soft_wrap=True)
    if not found:  # an empty list must not look like success: say where and how
        _say_none_found(out)
    missing = {f.name: error for f in found if (error := _unavailable(f)) is not None}
    if family and missing:  # the one family asked for cannot be shown: say why, exit 2
        raise next(iter(missing.values()))
    if json_mode:
        out.json([{"name": f.name, "description": f.description, "error": str(missing[f.name])}
                  if f.name in missing else {**f.describe(), "tasks": _tasks(f)}
                  for f in found])
        return
    for fam in found:
        if fam.name in missing:
            out.line(f"[bold]{fam.name}[/bold]: {fam.description}")
            out.line(f"  {escape(str(missing[fam.name]))}")
            continue
        info = fam.describe()
        params = [_param_text(p) for p in info["space"]["params"]]
        params += [f"{c['name']} cell {c['n_nodes']} nodes {{{', '.join(c['ops'])}}}"
                   for c in info["space"]["cells"]]
        params += _forbidden_text(info["space"])
        out.line(f"[bold]{fam.name}[/bold]: {fam.description}")
        axis = info.get("curve_axis")
        steps = f"{fam.max_budget} steps of {axis}" if axis else f"{fam.max_budget} epochs"
        out.line(f"  {fam.metric} ({fam.direction}), {steps}, {info['n_tasks']} tasks")
        for text in params:
            out.line(f"  - {text}")
        if not family:
            ids = fam.task_ids()
            more = f", ... (`metasearch families {fam.name}` lists all)" if len(ids) > 6 else ""
            out.line(f"  tasks: {', '.join(ids[:6])}{more}")
        else:
            rows = [[t["id"], *t["meta_features"].values()] for t in _tasks(fam)]
            columns = ["task", *next(iter(_tasks(fam)))["meta_features"]] if rows else ["task"]
            out.table(f"{fam.name} tasks", columns, rows)


def _families(family: str | None, warehouse: str | None) -> list[TaskFamily]:
    """``family`` (registered or stored), or every registered and every stored-only family.

    The warehouse is read when it is named (``-w``, ``$METASEARCH_WAREHOUSE``) or the default
    one exists: the shipped snapshot, not yet unpacked, holds only registered families, so a
    first ``metasearch families`` need not unpack it.
    """
    from metasearch.families import family_names, get_family, resolve_family
    from metasearch.warehouse import default_path

    registered = family_names()
    if family in registered or (warehouse is None and not default_path().exists()):
        return [get_family(name) for name in ([family] if family else registered)]
    with open_warehouse(warehouse) as store:
        if family:
            return [resolve_family(family, store)]
        stored = [r.name for r in store.families() if r.name not in registered]
        return [*map(get_family, registered), *(resolve_family(n, store) for n in stored)]


def _say_none_found(out: Output) -> None:
    """Where families were looked for and how to add one (stderr in JSON mode: stdout is ``[]``).
    """
    from metasearch.families import family_folders
    from metasearch.families._registry import ENTRY_POINT_GROUP, FAMILY_PATH_ENV

    looked = [("found" if f.is_dir() else "missing") + f": {f}"
              for f in family_folders(existing=False)]
    lines = ["no task family found. Looked in:", *(f"  {where}" for where in looked),
             f"  entry points of group {ENTRY_POINT_GROUP!r}: none",
             "Add one: put a family file (a TaskFamily subclass decorated with @register_family)",
             f"in one of those folders, or name its folder in ${FAMILY_PATH_ENV}; the README's "
             "'Add a task family' section shows one."]
    for text in lines:
        if out.json_mode:
            out.err.print(escape(text), highlight=False, soft_wrap=True)
        else:
            out.line(escape(text))


def _unavailable(fam: TaskFamily) -> MetasearchError | None:
    """Why a family cannot list its space and tasks (its data is missing), or None."""
    from metasearch.errors import MetasearchError

    try:
        fam.space  # noqa: B018
        fam.task_ids()
    except MetasearchError as exc:
        return exc
    return None


def _tasks(fam: Any) -> list[dict[str, Any]]:
    return [{"id": t.id, "meta_features": t.meta_features} for t in fam.tasks()]
