"""Several comparisons of the same tasks and seeds on one scale, each method against one.

A comparison's methods can be run in several ``compare`` calls (the baselines once, the
ablations later with ``--model`` from the first, so all share a split and seeds); each report
then scales regret by its own runs' bounds, and their figures cannot be set side by side. This
merges the ``runs.csv`` files (a method found in several is taken from the first that has it;
``PATH=TAG`` renames each method of that file ``METHOD@TAG``, to set a change's runs beside
the runs before it),
rescales regret by the union's best and worst complete values per task, and prints, per method,
the median regret at each budget with the (task, seed) pairs in which it is lower / higher
than ``--reference``, the mean at the last budget, and the one-sided Wilcoxon signed-rank p
that it is lower (better) and higher (worse) than the reference there::

    python benchmarks/union_table.py BASE/runs.csv ABLATIONS/runs.csv AFTER/runs.csv=after \\
        --direction maximize --budgets 5,10,25,50
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from compare_before_after import p_less  # this folder is on sys.path when run as a script

from metasearch.compare._metrics import add_regret, regret_matrix, task_bounds


def union(frames: Sequence[pd.DataFrame], direction: str) -> pd.DataFrame:
    """Regret per run and trial of every method of ``frames``, on the union's bounds."""
    taken: set[str] = set()
    parts = []
    for frame in frames:
        new = frame[~frame["method"].isin(taken)]
        taken |= set(new["method"])
        parts.append(new)
    runs = pd.concat(parts, ignore_index=True)
    return regret_matrix(add_regret(runs, task_bounds(runs, direction)))


def table(matrix: pd.DataFrame, reference: str, budgets: Sequence[int]) -> list[str]:
    """Markdown rows: median (pairs lower / higher than ``reference``) at each budget."""
    if reference not in matrix.index.get_level_values(0):
        raise SystemExit(f"no runs of the reference method {reference!r}")
    ks = [k for k in budgets if k <= matrix.shape[1]]
    last = ks[-1]
    ref = matrix.loc[reference]
    lines = ["| method | " + " | ".join(f"@{k}" for k in ks)
             + f" | mean @{last} | p lower @{last} | p higher @{last} |",
             "| --- |" + " --- |" * len(ks) + " ---: | ---: | ---: |"]
    for method in matrix.index.get_level_values(0).unique():
        runs = matrix.loc[method]
        common = runs.index.intersection(ref.index)
        own, other = runs.loc[common], ref.loc[common]
        cells = []
        for k in ks:
            cell = f"{runs[k].median():.4f}"
            if method != reference:
                lower = int((own[k] < other[k]).sum())
                higher = int((own[k] > other[k]).sum())
                cell += f" ({lower} / {higher})"
            cells.append(cell)
        if method == reference:
            p_low = p_high = "-"
        else:
            p_low = f"{p_less(own[last], other[last]):.2g}"
            p_high = f"{p_less(other[last], own[last]):.2g}"
        lines.append(f"| {method} | " + " | ".join(cells)
                     + f" | {runs[last].mean():.4f} | {p_low} | {p_high} |")
    pairs = len(ref)
    lines += ["", f"{pairs} (task, seed) pairs of {reference}; in brackets, pairs lower / "
              f"higher than {reference}"]
    return lines


def _read(spec: str) -> pd.DataFrame:
    """``PATH`` or ``PATH=TAG`` (every method renamed ``METHOD@TAG``) as a runs table."""
    path, _, tag = spec.partition("=")
    if not Path(path).is_file():
        raise SystemExit(f"{path}: no such file (a comparison's runs.csv)")
    runs = pd.read_csv(path)
    return runs.assign(method=runs["method"] + f"@{tag}") if tag else runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+",
                        help="runs.csv files of comparisons of one split, each PATH or PATH=TAG")
    parser.add_argument("--direction", choices=("maximize", "minimize"), required=True)
    parser.add_argument("--reference", default="metasearch")
    parser.add_argument("--budgets", default="1,5,10,25,50",
                        help="comma-separated trial counts")
    args = parser.parse_args()
    matrix = union([_read(spec) for spec in args.runs], args.direction)
    budgets = [int(k) for k in args.budgets.split(",")]
    print("\n".join(table(matrix, args.reference, budgets)))


if __name__ == "__main__":
    main()
