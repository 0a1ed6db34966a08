"""The comparison's outputs: the summary dict, the terminal table and the self-contained report.

:func:`summarize` turns the ``runs`` and ``costs`` tables into one JSON-ready dict;
:func:`summary_table` renders it for the terminal; :func:`write_report` writes ``report.html``
(plots embedded as base64 PNG, no external file or network access needed to view it),
``summary.json``, ``runs.csv`` and ``costs.csv`` into one folder, so every figure can be
recomputed from the CSVs. matplotlib is imported only inside :func:`write_report`, through its
object-oriented API (``Figure`` + Agg canvas), so it never switches a caller's pyplot backend.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metasearch.compare._figures import epochs_curve, figures
from metasearch.compare._metrics import (
    COST_COLUMNS,
    DEFAULT_KS,
    average_rank,
    effective_ks,
    holm,
    regret_at,
    regret_matrix,
    speedup,
    trials_to_target,
    validate_runs,
    wilcoxon_vs,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["cost_summary", "epochs_curve", "headline", "headline_lines", "summarize",
           "summary_table", "table_notes", "write_report"]


def cost_summary(runs: pd.DataFrame, costs: pd.DataFrame | None) -> pd.DataFrame:
    """Per-method cost: means over runs of the ``costs`` columns, pruned epochs saved in total,
    and from ``runs`` the trial count, trial seconds in total and trials per hour."""
    grouped = runs.groupby("method")["cost_s"]
    out = pd.DataFrame({"trials": grouped.size(), "trial_s_total": grouped.sum()})
    out["trials_per_hour"] = 3600.0 * out["trials"] / out["trial_s_total"].where(
        out["trial_s_total"] > 0)
    if costs is not None and not costs.empty:
        validate_runs(costs, COST_COLUMNS)
        by = costs.groupby("method")
        means = by[["meta_train_s", "suggest_s_mean", "trial_s_mean"]].mean()
        out = out.join(means).join(by["pruned_epochs_saved"].sum())
    return out.rename_axis("method")


def _jsonable(obj: Any) -> Any:
    """NaN and inf become None (JSON has neither); numpy scalars become Python ones."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def summarize(runs: pd.DataFrame, costs: pd.DataFrame | None, *, method_of_interest: str,
              baselines: Sequence[str], ks: Sequence[int] = DEFAULT_KS,
              reference: str = "tpe", n_boot: int = 2000, seed: int = 0,
              confidence: float = 0.95) -> dict[str, Any]:
    """Every headline number of a comparison as a JSON-ready dict (NaN and inf become null).

    Keys: ``budget, ks, methods, method_of_interest, baselines, reference, n_tasks, n_seeds,
    bootstrap, regret_at, rank_at, trials_to_target, targets, speedup, wilcoxon, cost``.
    Values that depend on ``k`` are keyed by ``str(k)``; see :func:`effective_ks` for ``k`` above
    the budget.
    ``speedup[method][baseline]`` covers the reference and every baseline. In
    ``trials_to_target`` a null median means the method misses the target on most tasks.
    Wilcoxon p-values are one-sided ("method of interest has lower regret") and two-sided,
    plus ``p_better_holm``, Holm-adjusted across the baselines at each ``k``.
    """
    validate_runs(runs)
    matrix = regret_matrix(runs)
    methods = sorted(matrix.index.get_level_values("method").unique())
    ks_in = effective_ks(ks, int(matrix.columns.max()))
    boot: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "confidence": confidence}
    ttt = trials_to_target(runs, reference=reference)
    versus = [b for b in dict.fromkeys([reference, *baselines]) if b in methods]
    return _jsonable({
        "budget": int(matrix.columns.max()), "ks": ks_in, "methods": methods,
        "method_of_interest": method_of_interest, "baselines": list(baselines),
        "reference": reference, "n_tasks": int(runs["task"].nunique()),
        "n_seeds": int(runs["seed"].nunique()), "bootstrap": boot,
        "regret_at": _nest(regret_at(runs, ks_in, n_boot=n_boot, seed=seed,
                                     confidence=confidence), "k",
                           ["n", "mean", "mean_lo", "mean_hi", "median", "median_lo",
                            "median_hi"]),
        "rank_at": _nest(average_rank(runs, ks_in), "k", ["rank", "n"]),
        "trials_to_target": _ttt_summary(ttt),
        "targets": dict(zip(ttt["task"].astype(str), ttt["target"], strict=True)),
        "speedup": speedup(runs, versus),
        "wilcoxon": {str(k): _tests(runs, method_of_interest, baselines, k) for k in ks_in},
        "cost": cost_summary(runs, costs).to_dict(orient="index"),
        "headline": headline(runs, ks_in),
    })


def headline(runs: pd.DataFrame, ks: Sequence[int]) -> list[dict[str, Any]]:
    """For each ``k``: the best method by mean regret, the methods tied with it, the
    runner-up (the best of the rest) and by how much it trails, with the one-sided Wilcoxon
    signed-rank p-value of the best against the runner-up over (task, seed) pairs.

    One test per ``k`` between the two leaders, so no multiple-comparison correction; the
    table's p column (the method of interest against every baseline) is Holm-adjusted.
    """
    means = regret_matrix(runs).groupby(level="method").mean()
    out = []
    for k in ks:
        at = means[min(int(k), int(means.columns.max()))].dropna().sort_values(kind="stable")
        if at.empty:
            continue
        best = float(at.iloc[0])
        tied = [str(m) for m, v in at.items() if np.isclose(v, best, rtol=0.0, atol=1e-12)]
        row: dict[str, Any] = {"k": int(k), "best": tied[0], "tied": tied[1:], "mean": best}
        rest = at.drop(tied)
        if not rest.empty:
            second = str(rest.index[0])
            test = wilcoxon_vs(runs, tied[0], [second], int(k))[second]
            row |= {"runner_up": second, "runner_up_mean": float(rest.iloc[0]),
                    "margin": float(rest.iloc[0]) - best, "p": test["p_better"],
                    "pairs": test["n"]}
        out.append(row)
    return out


def headline_lines(summary: Mapping[str, Any]) -> list[str]:
    """The headline in words, one line per budget: who is best, by how much, how surely."""
    lines = []
    for row in summary.get("headline", []):
        text = f"after {row['k']} trials: {' = '.join([row['best'], *row['tied']])} best " \
               f"({row['mean']:.3f})"
        if row.get("runner_up") is not None:
            p = row["p"]
            verdict = "p n/a" if p is None else \
                f"p = {p:.2g}, {'significant' if p < 0.05 else 'not significant'}"
            text += (f"; next {row['runner_up']} {row['runner_up_mean']:.3f}, "
                     f"+{row['margin']:.3f} ({verdict}, {row['pairs']} pairs)")
        lines.append(text)
    return lines


def _ttt_summary(ttt: pd.DataFrame) -> dict[str, Any]:
    return {str(m): {"median": float(b["trials"].median()),
                     "tasks_reached": float(np.isfinite(b["trials"]).mean()),
                     "runs_reached": float(b["runs_reached"].mean()),
                     "per_task": dict(zip(b["task"].astype(str), b["trials"], strict=True))}
            for m, b in ttt.groupby("method")}


def _tests(runs: pd.DataFrame, method: str, baselines: Sequence[str], k: int) -> dict[str, Any]:
    by_base = wilcoxon_vs(runs, method, [b for b in baselines if b != method], k)
    adjusted = holm({b: r["p_better"] for b, r in by_base.items()})
    return {b: r | {"p_better_holm": adjusted[b]} for b, r in by_base.items()}


def _nest(frame: pd.DataFrame, key: str, fields: Sequence[str]) -> dict[str, Any]:
    """``{method: {str(key): {field: value}}}`` from a long table."""
    out: dict[str, Any] = {}
    for row in frame.to_dict(orient="records"):
        out.setdefault(str(row["method"]), {})[str(row[key])] = {f: row[f] for f in fields}
    return out


def _num(value: Any, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def summary_table(summary: Mapping[str, Any], n_ks: int = 3, *, compact: bool = False
                  ) -> list[list[str]]:
    """The summary table: a header row, then one row per method (method of interest first).

    Columns: regret after the last ``n_ks`` values of k as ``mean [lo, hi]``, average rank at
    the budget, median trials-to-target (``never`` if missed on most tasks), speed-up against
    the reference, and the Holm-adjusted one-sided Wilcoxon p-value of the method of interest
    against that row's method at the budget. ``compact`` (the terminal's, which must fit 100
    columns) shows means only, under short headers; the intervals are in the report and the
    JSON summary.
    """
    ks = [str(k) for k in summary["ks"][-n_ks:]]
    last, ref = str(summary["ks"][-1]), summary["reference"]
    moi = summary["method_of_interest"]
    header = ["method", *(f"regret@{k}" for k in ks), f"rank@{last}",
              f"trials to {ref}'s final", f"speed-up vs {ref}", f"p ({moi} better)"]
    if compact:
        header[-3:] = [f"to {ref}'s final", f"vs {ref}", "p (Holm)"]
    methods = sorted(summary["methods"], key=lambda m: (m != moi, m))
    rows = [header]
    for m in methods:
        at = summary["regret_at"].get(m, {})
        cells = [("n/a" if k not in at else _num(at[k]["mean"]) if compact else
                  f"{_num(at[k]['mean'])} [{_num(at[k]['mean_lo'])}, {_num(at[k]['mean_hi'])}]")
                 for k in ks]
        rank = summary["rank_at"].get(m, {}).get(last, {}).get("rank")
        ttt = summary["trials_to_target"].get(m, {}).get("median")
        spd = summary["speedup"].get(m, {}).get(ref)
        test = summary["wilcoxon"].get(last, {}).get(m)
        p = "-" if test is None else _num(test["p_better_holm"], ".3g")
        known = ref in summary["speedup"].get(m, {})  # None there: the target never reached
        rows.append([m, *cells, _num(rank, ".2f"), "never" if ttt is None else _num(ttt, ".1f"),
                     f"{spd:.2f}x" if spd is not None else "never" if known else "n/a", p])
    return rows


def table_notes(summary: Mapping[str, Any]) -> list[str]:
    """What the summary table's words mean, one line each: printed under it wherever it is
    shown (terminal, report, summary.md), and only the notes its rows need."""
    ref = summary["reference"]
    never = [m for m, by in summary["speedup"].items() if ref in by and by[ref] is None]
    if not never:
        return []
    return [f"never: {', '.join(sorted(never))} did not reach {ref}'s final regret on most "
            f"tasks within the budget, so there is no trial count to take a speed-up of "
            "(null in summary.json)."]


def write_report(out_dir: str | Path, runs: pd.DataFrame, costs: pd.DataFrame | None,
                 summary: Mapping[str, Any], *, title: str = "metasearch comparison",
                 protocol: Mapping[str, Any] | None = None) -> Path:
    """Write ``report.html``, ``summary.json``, ``runs.csv`` and ``costs.csv`` into ``out_dir``.

    Args:
        out_dir: folder to write into (created if missing; the four files are overwritten).
        runs: the per-trial table (see :data:`metasearch.compare.RUN_COLUMNS`).
        costs: the per-run cost table (see :data:`metasearch.compare.COST_COLUMNS`), or None.
        summary: what :func:`summarize` returned for these tables.
        title: the report's heading.
        protocol: what was run (families, train/test tasks, budget, seeds, methods, commands),
            shown as given so the report says which split it used.

    Returns:
        The path of ``report.html``.
    """
    validate_runs(runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False)
    costs_frame = costs if costs is not None else pd.DataFrame(columns=list(COST_COLUMNS))
    costs_frame.to_csv(out / "costs.csv", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    sections = [
        _section("Headline", _list_html(headline_lines(summary))),
        _section("Protocol", _protocol_html(protocol or {})),
        _section("Summary", _table_html(summary_table(summary)) + _notes_html(summary)),
        *(_section(name, _img(fig, name)) for name, fig in figures(runs, summary)),
        _section("Cost", _cost_html(summary)),
    ]
    page = _PAGE.format(title=html.escape(title), body="\n".join(sections))
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:right}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}
td{{white-space:nowrap}}td.text{{text-align:left;white-space:normal}}
td.text ul{{margin:0;padding-left:1.2em}}
pre{{background:#f4f4f4;padding:.5em;white-space:pre-wrap}}</style></head>
<body><h1>{title}</h1>
{body}
<p><small>Every number and figure here is recomputable from runs.csv, costs.csv and
summary.json in this folder.</small></p></body></html>
"""


def _section(name: str, body: str) -> str:
    return f"<h2>{html.escape(name)}</h2>\n{body}"


def _table_html(rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _list_html(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _value_html(value: Any) -> str:
    """A protocol value for people: a mapping as a list of ``key: value``, a list joined."""
    if isinstance(value, Mapping):
        return "<ul>" + "".join(f"<li><b>{html.escape(str(k))}</b>: {_value_html(v)}</li>"
                                for k, v in value.items()) + "</ul>"
    if isinstance(value, list | tuple | set):
        return html.escape(", ".join(map(str, value)))
    return html.escape(str(value))


def _protocol_html(protocol: Mapping[str, Any]) -> str:
    rows = []
    pre = ""
    for key, value in protocol.items():
        if key == "commands":
            cmds = [value] if isinstance(value, str) else list(value)
            pre = "<pre>" + html.escape("\n".join(map(str, cmds))) + "</pre>"
        else:
            rows.append(f"<tr><td>{html.escape(str(key))}</td>"
                        f'<td class="text">{_value_html(value)}</td></tr>')
    return f"<table><tr><th>item</th><th>value</th></tr>{''.join(rows)}</table>" + pre


def _notes_html(summary: Mapping[str, Any]) -> str:
    b = summary["bootstrap"]
    return (f"<p>Normalized regret of the incumbent (0 = best known, 1 = worst known per task), "
            f"mean over {summary['n_tasks']} tasks x {summary['n_seeds']} seeds with a "
            f"{b['confidence']:.0%} percentile bootstrap interval ({b['n_boot']} resamples of "
            f"(task, seed) pairs, seed {b['seed']}). Trials to target: first trial at which a "
            f"method's seed-mean regret reaches {html.escape(summary['reference'])}'s final "
            f"seed-mean regret, median over tasks. p: one-sided Wilcoxon signed-rank test over "
            f"(task, seed) pairs at k = {summary['ks'][-1]}, Holm-adjusted across baselines.</p>"
            + "".join(f"<p>{html.escape(note)}</p>" for note in table_notes(summary)))


def _cost_html(summary: Mapping[str, Any]) -> str:
    cost = summary["cost"]
    fields = sorted({f for v in cost.values() for f in v})
    rows: list[list[str]] = [["method", *fields]]
    for m, v in cost.items():
        rows.append([m, *(_num(v.get(f), ".4g") for f in fields)])
    return _table_html(rows)


def _img(fig: Figure, name: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
