"""The report's figures, drawn with matplotlib's object API (``Figure``; pyplot never touched).

Every figure draws a method in the same colour and line style (:func:`method_styles`, fixed by
the sorted list of the comparison's methods), puts the legend outside the axes so that no
curve hides under it, and labels trials with integers. matplotlib is imported only by the
callers of these functions (:func:`metasearch.compare._report.write_report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metasearch.compare._metrics import rank_curve, regret_curve, regret_matrix

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["epochs_curve", "figures", "method_styles"]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")
_LINES = ("-", "--", ":", "-.")
FLOOR = 1e-4
"""Regret drawn on a log scale is floored here (a regret of 0 has no logarithm)."""


def method_styles(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{method: {"color", "linestyle"}}``: ten colours, then the next line style, so up to 40
    methods stay apart; the same method gets the same style in every figure of a report."""
    return {m: {"color": _COLOURS[i % len(_COLOURS)],
                "linestyle": _LINES[(i // len(_COLOURS)) % len(_LINES)]}
            for i, m in enumerate(sorted(methods))}


def figures(runs: pd.DataFrame, summary: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    """The report's figures in order, each with its section title."""
    from matplotlib.figure import Figure

    styles = method_styles(summary["methods"])
    b = summary["bootstrap"]
    curve = regret_curve(runs, n_boot=b["n_boot"], seed=b["seed"], confidence=b["confidence"])
    out = [("Regret curves", _regret_fig(_figure(Figure, 12, 4), curve, styles)),
           ("Average rank", _rank_fig(_figure(Figure, 8, 4), rank_curve(runs), styles)),
           ("Final regret per task", _heat_fig(_figure(Figure, 8, 5), runs)),
           ("Speed-up", _speedup_fig(_figure(Figure, 8, 4), summary, styles))]
    if "epochs" in runs.columns and runs["epochs"].fillna(0).max() > 1:
        out.append(("Regret against epochs trained",
                    _epochs_fig(_figure(Figure, 8, 4), runs, styles)))
    return out


def _figure(cls: type[Figure], width: float, height: float) -> Figure:
    return cls(figsize=(width, height), layout="constrained")


def _legend_outside(fig: Figure, ax: Axes) -> None:
    """One legend, right of the plots, so it never covers a curve."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", frameon=False)


def _integer_trials(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _regret_fig(fig: Figure, curve: pd.DataFrame, styles: Mapping[str, Any]) -> Figure:
    axes = fig.subplots(1, 2)
    for ax, log in zip(axes, (False, True), strict=True):
        for method, c in curve.groupby("method"):
            lo, mean, hi = (np.maximum(c[col], FLOOR) if log else c[col]
                            for col in ("lo", "mean", "hi"))
            style = styles[str(method)]
            ax.plot(c["trial"], mean, label=str(method), **style)
            ax.fill_between(c["trial"], lo, hi, alpha=0.15, color=style["color"], lw=0)
        ax.set(xlabel="trials", yscale="log" if log else "linear",
               title="log scale" if log else "linear scale")
        _integer_trials(ax)
    fig.supylabel("normalized regret (mean, 95% band)")
    _legend_outside(fig, axes[0])
    return fig


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


def _epochs_fig(fig: Figure, runs: pd.DataFrame, styles: Mapping[str, Any]) -> Figure:
    ax = fig.subplots()
    for method, c in epochs_curve(runs).groupby("method"):
        ax.plot(c["epochs"], np.maximum(c["regret"], FLOOR), label=str(method),
                **styles[str(method)])
    ax.set(xlabel="epochs trained (all trials of a run, pruned ones included)",
           ylabel="normalized regret (mean)", yscale="log")
    _legend_outside(fig, ax)
    return fig


def _rank_fig(fig: Figure, ranks: pd.DataFrame, styles: Mapping[str, Any]) -> Figure:
    ax = fig.subplots()
    for method, c in ranks.groupby("method"):
        ax.plot(c["trial"], c["rank"], label=str(method), **styles[str(method)])
    ax.set(xlabel="trials", ylabel="average rank (1 = best)")
    _integer_trials(ax)
    _legend_outside(fig, ax)
    return fig


def _heat_fig(fig: Figure, runs: pd.DataFrame) -> Figure:
    final = regret_matrix(runs).iloc[:, -1].groupby(level=["task", "method"]).mean()
    grid = final.unstack("method")
    ax = fig.subplots()
    im = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis_r", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), [str(t) for t in grid.index])
    ax.set(xlabel="method", ylabel="task")
    if grid.size <= 400:
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="k" if v < 0.5 else "w")
    fig.colorbar(im, ax=ax, label="final regret (seed mean)")
    return fig


def _speedup_fig(fig: Figure, summary: Mapping[str, Any], styles: Mapping[str, Any]) -> Figure:
    spd = summary["speedup"]
    bases = sorted({b for v in spd.values() for b in v})
    methods = sorted(spd)
    ax = fig.subplots()
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        vals = [spd[m].get(b) or 0.0 for b in bases]
        x = np.arange(len(bases)) + i * width
        ax.bar(x, vals, width, label=m, color=styles[m]["color"])
        for xi, b in zip(x, bases, strict=True):  # no bar where the target was never reached
            if b in spd[m] and spd[m][b] is None:
                ax.text(xi, 0.02, "never", rotation=90, ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(bases)) + 0.4 - width / 2, bases)
    ax.set(xlabel="baseline", ylabel="speed-up (median over tasks)")
    _legend_outside(fig, ax)
    return fig
