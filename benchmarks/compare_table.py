"""One compact Markdown table from a comparison's `runs.csv`: the README's "after the warm start".

For each method: median normalized regret over (task, seed) pairs after 5, 10, 25 and 50
trials (those below the budget) and at the budget, with the interquartile range at the
budget; the one-sided Wilcoxon
signed-rank p of the focus method (``metasearch``) against the row at the budget, in each
direction, uncorrected (the report's p is Holm-adjusted across baselines); the share of
trials pruned. Every figure is recomputed from the CSV that `metasearch compare` wrote.

    python benchmarks/compare_table.py compare-out/runs.csv [--focus metasearch]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from metasearch.compare._metrics import regret_matrix, wilcoxon_vs

KS = (5, 10, 25, 50)


def p_one_sided(runs: pd.DataFrame, focus: str, other: str, k: int) -> tuple[float, float]:
    """P(focus better), P(focus worse) at ``k``: the report's one-sided Wilcoxon over the
    (task, seed) pairs both ran, each way, uncorrected."""
    better = wilcoxon_vs(runs, focus, [other], k)[other]["p_better"]
    worse = wilcoxon_vs(runs, other, [focus], k)[focus]["p_better"]
    return better, worse


def table(runs: pd.DataFrame, focus: str) -> list[str]:
    """The Markdown lines: one row per method, ``focus`` first."""
    budget = int(runs["trial"].max())
    ks = [k for k in KS if k < budget] + [budget]
    matrix = regret_matrix(runs)  # rows (method, task, seed), columns trials
    at = {k: matrix[k].unstack("method") for k in ks}  # rows (task, seed), columns methods
    methods = [focus, *sorted(m for m in at[budget].columns if m != focus)]
    header = ([f"median @{k}" for k in ks] + [f"IQR @{budget}", f"p better @{budget}",
              f"p worse @{budget}", "pruned"])
    lines = ["| method | " + " | ".join(header) + " |",
             "| --- |" + " ---: |" * len(header)]
    pruned = runs.groupby("method")["state"].apply(lambda s: float((s == "pruned").mean()))
    for method in methods:
        final = at[budget][method]
        q1, q3 = np.nanpercentile(final, [25, 75])
        cells = [f"{np.nanmedian(at[k][method]):.3f}" for k in ks]
        cells.append(f"{q1:.3f}-{q3:.3f}")
        if method == focus:
            cells += ["-", "-"]
        else:
            better, worse = p_one_sided(runs, focus, method, budget)
            cells += [f"{better:.2g}", f"{worse:.2g}"]
        cells.append(f"{pruned[method]:.0%}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    n_pairs = int(at[budget][focus].notna().sum())
    lines.append("")
    lines.append(f"{runs['task'].nunique()} tasks x {runs['seed'].nunique()} seeds "
                 f"({n_pairs} pairs), budget {budget}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="a comparison's runs.csv")
    parser.add_argument("--focus", default="metasearch")
    args = parser.parse_args()
    print("\n".join(table(pd.read_csv(args.runs), args.focus)))


if __name__ == "__main__":
    main()
