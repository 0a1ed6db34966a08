"""A tabular comparison counted by distinct table rows instead of trials.

On a tabular family (``nats-tss``, ``taskset``, a replayed warehouse table) a suggestion is
answered by the nearest row, so a continuous sampler can spend trials on rows it has already
evaluated, while MetaSampler proposes from the untried rows only. To check that a lead is not
only those repeats, this reads a finished ``compare``'s studies, drops each study's trials
whose evaluated configuration (``metasearch_config``) an earlier trial of the study already
had, renumbers the rest 1, 2, ... and scores them as ``compare`` does (regret scaled by the
runs' best and worst complete value per task; a study with fewer distinct rows than ``k``
keeps its last regret at ``k``)::

    python benchmarks/distinct_rows.py COMPARE_OUT --direction minimize [--focus metasearch]

prints, per method, the median distinct rows of a run, the median regret at 5, 10, 25, 50
and the budget by distinct rows, and the focus method's pairs lower / higher than each other
method with the one-sided Wilcoxon p that it is lower ("The surrogate's corners" in
docs/issue-13-passes.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from scipy.stats import wilcoxon

from metasearch.compare._metrics import add_regret, regret_matrix, task_bounds


def distinct_runs(out: Path, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """``runs`` with every repeat of a study's evaluated row dropped and trials renumbered,
    and each run's count of distinct rows."""
    storage = JournalStorage(JournalFileBackend(str(out / "studies.journal")))
    kept, counts = [], {}
    for (task, method, seed), run in runs.groupby(["task", "method", "seed"], sort=True):
        name = f"compare/{run['family'].iloc[0]}/{task}/{method}/seed={seed}"
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        seen, first = set(), []
        for number, trial in enumerate(trials, start=1):
            key = json.dumps(trial.user_attrs.get("metasearch_config", trial.params),
                             sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                first.append(number)
        rows = run.set_index("trial").reindex(first).dropna(how="all").reset_index()
        rows["trial"] = np.arange(1, len(rows) + 1)
        kept.append(rows)
        counts[(method, task, seed)] = len(rows)
    return pd.concat(kept, ignore_index=True), pd.Series(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="a compare's --out")
    parser.add_argument("--direction", required=True, choices=("minimize", "maximize"))
    parser.add_argument("--focus", default="metasearch")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    runs = pd.read_csv(args.out / "runs.csv")
    budget = int(runs["trial"].max())
    table, counts = distinct_runs(args.out, runs)
    bounds = task_bounds(runs, args.direction)  # the scale of every trial, repeats included
    matrix = regret_matrix(add_regret(table, bounds), budget)
    ks = [k for k in (5, 10, 25, 50, budget) if k <= budget]
    methods = list(matrix.index.get_level_values(0).unique())
    print(f"| method | distinct rows (median of {budget} trials) | "
          + " | ".join(f"median @{k}" for k in ks)
          + f" | {args.focus} lower / higher, p (lower) @" + ", @".join(map(str, ks)) + " |")
    print("| --- | ---: |" + " ---: |" * len(ks) + " --- |")
    focus = matrix.loc[args.focus]
    for method in methods:
        row = matrix.loc[method]
        cells = []
        if method != args.focus:
            for k in ks:
                diff = focus[k] - row[k].reindex(focus.index)
                lower, higher = int((diff < 0).sum()), int((diff > 0).sum())
                p = 1.0 if lower + higher == 0 else float(
                    wilcoxon(diff, alternative="less").pvalue)
                cells.append(f"{lower}/{higher} ({p:.2g})")
        print(f"| {method} | {counts[method].median():.0f} | "
              + " | ".join(f"{row[k].median():.3g}" for k in ks)
              + f" | {', '.join(cells) or '-'} |")


if __name__ == "__main__":
    main()
