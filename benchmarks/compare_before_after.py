"""Two comparisons of the same runs, before and after a change, on one scale, paired.

``compare --storage BASE --out NEW`` adds methods to a comparison; run once from the code
before a change and once after (each from its own copy of ``BASE``), the two reports each scale
regret by their own runs' bounds, so their figures are close but not paired. This merges the
two ``runs.csv``: the baselines once (they are the same runs in both), each method of
``--methods`` twice (``NAME@before``, ``NAME@after``), regret rescaled by the union's best and
worst complete values per task; then medians, IQR and means, the one-sided Wilcoxon
signed-rank p that each method is better after than before over (task, seed) pairs, and each
ablation against ``--focus`` on either side::

    python benchmarks/compare_before_after.py BEFORE/runs.csv AFTER/runs.csv --direction maximize
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from metasearch.compare._metrics import add_regret, regret_matrix, task_bounds

METHODS = "metasearch,no-pruner,no-target-gp,random-acq"


def merged(before: pd.DataFrame, after: pd.DataFrame, methods: list[str], direction: str
           ) -> pd.DataFrame:
    """Regret per run and trial of both comparisons on the union's bounds."""
    runs = pd.concat([
        before[~before["method"].isin(methods)],
        before[before["method"].isin(methods)].assign(method=lambda d: d["method"] + "@before"),
        after[after["method"].isin(methods)].assign(method=lambda d: d["method"] + "@after"),
    ], ignore_index=True)
    return regret_matrix(add_regret(runs, task_bounds(runs, direction)))


def p_less(x: pd.Series, y: pd.Series) -> float:
    """One-sided Wilcoxon signed-rank p that ``x`` is lower than ``y`` (1 when all tie)."""
    if not np.any(x.to_numpy() - y.to_numpy()):
        return 1.0
    return float(wilcoxon(x, y, alternative="less").pvalue)


def report(matrix: pd.DataFrame, methods: list[str], focus: str) -> list[str]:
    """Markdown table of every row, then the before/after and ablation p values."""
    budget = matrix.shape[1]
    ks = [k for k in (5, 10, 25, budget) if k <= budget]
    lines = ["| method | " + " | ".join(f"median @{k}" for k in ks)
             + f" | IQR @{budget} | mean @{budget} |",
             "| --- |" + " ---: |" * (len(ks) + 2)]
    for method in sorted(matrix.index.get_level_values(0).unique()):
        runs = matrix.loc[method]
        q1, q3 = runs[budget].quantile([0.25, 0.75])
        lines.append(f"| {method} | " + " | ".join(f"{runs[k].median():.3f}" for k in ks)
                     + f" | {q1:.3f}-{q3:.3f} | {runs[budget].mean():.3f} |")
    lines.append("")
    for method in methods:
        after = matrix.loc[f"{method}@after"][budget]
        before = matrix.loc[f"{method}@before"][budget]
        lines.append(f"{method}: after - before, median {np.median(after - before):+.3f}; "
                     f"p (after better) {p_less(after, before):.2g}")
    for side in ("before", "after"):
        for method in (m for m in methods if m != focus and m != "metasearch"):
            own = matrix.loc[f"{focus}@{side}"][budget]
            other = matrix.loc[f"{method}@{side}"][budget]
            lines.append(f"{side}: {focus} against {method}: p ({focus} better) "
                         f"{p_less(own, other):.2g}, p ({focus} worse) "
                         f"{p_less(other, own):.2g}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--direction", choices=("maximize", "minimize"), required=True)
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--focus", default="no-pruner", help="what the ablations remove from")
    args = parser.parse_args()
    methods = args.methods.split(",")
    matrix = merged(pd.read_csv(args.before), pd.read_csv(args.after), methods, args.direction)
    print("\n".join(report(matrix, methods, args.focus)))


if __name__ == "__main__":
    main()
