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

from metasearch.compare._metrics import (
    COST_COLUMNS,
    DEFAULT_KS,
    average_rank,
    effective_ks,
    holm,
    rank_curve,
    regret_at,
    regret_curve,
    regret_matrix,
    speedup,
    trials_to_target,
    validate_runs,
    wilcoxon_vs,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["cost_summary", "summarize", "summary_table", "write_report"]


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
    })


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


def summary_table(summary: Mapping[str, Any], n_ks: int = 3) -> list[list[str]]:
    """The terminal table: a header row, then one row per method (method of interest first).

    Columns: regret after the last ``n_ks`` values of k as ``mean [lo, hi]``, average rank at
    the budget, median trials-to-target (``never`` if missed on most tasks), speed-up against
    the reference, and the Holm-adjusted one-sided Wilcoxon p-value of the method of interest
    against that row's method at the budget.
    """
    ks = [str(k) for k in summary["ks"][-n_ks:]]
    last, ref = str(summary["ks"][-1]), summary["reference"]
    moi = summary["method_of_interest"]
    header = ["method", *(f"regret@{k}" for k in ks), f"rank@{last}",
              f"trials to {ref}'s final", f"speed-up vs {ref}", f"p ({moi} better)"]
    methods = sorted(summary["methods"], key=lambda m: (m != moi, m))
    rows = [header]
    for m in methods:
        at = summary["regret_at"].get(m, {})
        cells = [f"{_num(at[k]['mean'])} [{_num(at[k]['mean_lo'])}, {_num(at[k]['mean_hi'])}]"
                 if k in at else "n/a" for k in ks]
        rank = summary["rank_at"].get(m, {}).get(last, {}).get("rank")
        ttt = summary["trials_to_target"].get(m, {}).get("median")
        spd = summary["speedup"].get(m, {}).get(ref)
        test = summary["wilcoxon"].get(last, {}).get(m)
        p = "-" if test is None else _num(test["p_better_holm"], ".3g")
        rows.append([m, *cells, _num(rank, ".2f"), "never" if ttt is None else _num(ttt, ".1f"),
                     "n/a" if spd is None else f"{spd:.2f}x", p])
    return rows


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
        _section("Protocol", _protocol_html(protocol or {})),
        _section("Summary", _table_html(summary_table(summary)) + _notes_html(summary)),
        *(_section(name, _img(fig)) for name, fig in _figures(runs, summary)),
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
pre{{background:#f4f4f4;padding:.5em}}</style></head>
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


def _protocol_html(protocol: Mapping[str, Any]) -> str:
    rows: list[list[str]] = [["item", "value"]]
    pre = ""
    for key, value in protocol.items():
        if key == "commands":
            cmds = [value] if isinstance(value, str) else list(value)
            pre = "<pre>" + html.escape("\n".join(map(str, cmds))) + "</pre>"
        elif isinstance(value, list | tuple | set):
            rows.append([str(key), ", ".join(map(str, value))])
        else:
            rows.append([str(key), str(value)])
    return _table_html(rows) + pre


def _notes_html(summary: Mapping[str, Any]) -> str:
    b = summary["bootstrap"]
    return (f"<p>Normalized regret of the incumbent (0 = best known, 1 = worst known per task), "
            f"mean over {summary['n_tasks']} tasks x {summary['n_seeds']} seeds with a "
            f"{b['confidence']:.0%} percentile bootstrap interval ({b['n_boot']} resamples of "
            f"(task, seed) pairs, seed {b['seed']}). Trials to target: first trial at which a "
            f"method's seed-mean regret reaches {html.escape(summary['reference'])}'s final "
            f"seed-mean regret, median over tasks. p: one-sided Wilcoxon signed-rank test over "
            f"(task, seed) pairs at k = {summary['ks'][-1]}, Holm-adjusted across baselines.</p>")


def _cost_html(summary: Mapping[str, Any]) -> str:
    cost = summary["cost"]
    fields = sorted({f for v in cost.values() for f in v})
    rows: list[list[str]] = [["method", *fields]]
    for m, v in cost.items():
        rows.append([m, *(_num(v.get(f), ".4g") for f in fields)])
    return _table_html(rows)


def _img(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _figures(runs: pd.DataFrame, summary: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    """The report's figures, built with matplotlib's object API (imported here, lazily)."""
    from matplotlib.figure import Figure

    b = summary["bootstrap"]
    curve = regret_curve(runs, n_boot=b["n_boot"], seed=b["seed"], confidence=b["confidence"])
    figures = [("Regret curves", _regret_fig(Figure(figsize=(11, 4)), curve)),
               ("Average rank", _rank_fig(Figure(figsize=(6, 4)), rank_curve(runs))),
               ("Final regret per task", _heat_fig(Figure(figsize=(7, 5)), runs)),
               ("Speed-up", _speedup_fig(Figure(figsize=(7, 4)), summary))]
    if "epochs" in runs.columns and runs["epochs"].fillna(0).max() > 1:
        figures.append(("Regret against epochs trained",
                        _epochs_fig(Figure(figsize=(6, 4)), runs)))
    return figures


def epochs_curve(runs: pd.DataFrame, points: int = 100) -> pd.DataFrame:
    """Mean incumbent regret per method after each amount of training (epochs summed over a
    run's trials, pruned ones included): the cost axis on which a pruner pays off.

    Each run's regret is a step function of its cumulative epochs (1.0 before its first trial);
    runs are averaged on a common grid from 0 to the longest run's total.
    """
    keyed = runs.sort_values(["method", "task", "seed", "trial"])
    spent = keyed.groupby(["method", "task", "seed"])["epochs"].cumsum().fillna(0)
    grid = np.linspace(0.0, float(spent.max()), points)
    rows = []
    for method, frame in keyed.assign(spent=spent).groupby("method"):
        curves = []
        for _, run in frame.groupby(["task", "seed"]):
            at = np.searchsorted(run["spent"].to_numpy(), grid, side="right") - 1
            regret = run["regret"].to_numpy()
            curves.append(np.where(at >= 0, regret[np.maximum(at, 0)], 1.0))
        mean = np.mean(curves, axis=0)
        rows += [{"method": method, "epochs": g, "regret": r} for g, r in zip(grid, mean,
                                                                              strict=True)]
    return pd.DataFrame(rows)


def _regret_fig(fig: Figure, curve: pd.DataFrame) -> Figure:
    axes = fig.subplots(1, 2)
    for ax, log in zip(axes, (False, True), strict=True):
        for method, c in curve.groupby("method"):
            lo, mean, hi = (np.maximum(c[col], 1e-4) if log else c[col]
                            for col in ("lo", "mean", "hi"))
            ax.plot(c["trial"], mean, label=str(method))
            ax.fill_between(c["trial"], lo, hi, alpha=0.2)
        ax.set(xlabel="trials", ylabel="normalized regret (mean, 95% band)",
               yscale="log" if log else "linear", title="log scale" if log else "linear scale")
    axes[0].legend()
    return fig


def _epochs_fig(fig: Figure, runs: pd.DataFrame) -> Figure:
    ax = fig.subplots()
    for method, c in epochs_curve(runs).groupby("method"):
        ax.plot(c["epochs"], np.maximum(c["regret"], 1e-4), label=str(method))
    ax.set(xlabel="epochs trained (all trials of a run, pruned ones included)",
           ylabel="normalized regret (mean)", yscale="log")
    ax.legend()
    return fig


def _rank_fig(fig: Figure, ranks: pd.DataFrame) -> Figure:
    ax = fig.subplots()
    for method, c in ranks.groupby("method"):
        ax.plot(c["trial"], c["rank"], label=str(method))
    ax.set(xlabel="trials", ylabel="average rank (1 = best)")
    ax.legend()
    return fig


def _heat_fig(fig: Figure, runs: pd.DataFrame) -> Figure:
    final = regret_matrix(runs).iloc[:, -1].groupby(level=["task", "method"]).mean()
    grid = final.unstack("method")
    ax = fig.subplots()
    im = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis_r", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), [str(t) for t in grid.index])
    if grid.size <= 400:
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="k" if v < 0.5 else "w")
    fig.colorbar(im, ax=ax, label="final regret (seed mean)")
    return fig


def _speedup_fig(fig: Figure, summary: Mapping[str, Any]) -> Figure:
    spd = summary["speedup"]
    bases = sorted({b for v in spd.values() for b in v})
    methods = sorted(spd)
    ax = fig.subplots()
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        vals = [spd[m].get(b) or 0.0 for b in bases]
        ax.bar(np.arange(len(bases)) + i * width, vals, width, label=m)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(bases)) + 0.4 - width / 2, bases)
    ax.set(xlabel="baseline", ylabel="speed-up (median over tasks)")
    ax.legend()
    return fig
