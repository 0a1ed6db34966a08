"""Feature-aware against uniform warm start on held-out tasks, over several task splits.

For each split seed, 28 tasks of a family are meta-trained on (60 random trials each, the
portfolio component alone) and the other 12 held out; each held-out task gets the uniform
portfolio's first 5 configurations and the portfolio weighted by its meta-features, and both
are scored by the family's exact noise-free value (normalized regret against the best and worst
of 2,000 random configurations). Families: ``shift`` (best learning rate, width and dropout
follow n_rows and n_features), ``shift-noise`` (the same tasks, meta-features unrelated to them)
and ``synthetic``. Prints one Markdown table: mean regret at 1, 3 and 5 trials over splits,
+- the standard deviation across splits, and how often the features were used.

    python benchmarks/features_warmstart.py [--splits 5] [--families shift shift-noise]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from metasearch.families import get_family
from metasearch.metamodel import Portfolio, TaskContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic_data import evaluated_dataset  # the tests' one data builder

N_TRAIN, N_TRIALS, KS = 28, 60, (1, 3, 5)


def _bounds(family: Any) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(7)
    draws = [family.space.sample(rng) for _ in range(2000)]
    out = {}
    for task_id in family.task_ids():
        values = [family.task(task_id).final_value(c) for c in draws]
        out[task_id] = (max(values), min(values))
    return out


def _regrets(task: Any, configs: list[dict[str, Any]], bounds: tuple[float, float]
             ) -> list[float]:
    best, worst = bounds
    values = np.maximum.accumulate([task.final_value(c) for c in configs])
    return [float((best - values[k - 1]) / (best - worst)) for k in KS]


def one_split(family: Any, seed: int, bounds: dict[str, tuple[float, float]]
              ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Mean held-out regrets at :data:`KS` (uniform, feature-aware) and whether features were
    used, for split ``seed``."""
    ids = family.task_ids()
    order = np.random.default_rng(seed).permutation(len(ids))
    portfolio = Portfolio()
    portfolio.fit(evaluated_dataset([ids[i] for i in order[:N_TRAIN]], N_TRIALS, seed,
                                    family.name))
    uniform = portfolio.configs(5)
    rows_u, rows_f = [], []
    for i in order[N_TRAIN:]:
        task = family.task(ids[i])
        aware = portfolio.configs(5, TaskContext(meta_features=task.meta_features))
        rows_u.append(_regrets(task, uniform, bounds[ids[i]]))
        rows_f.append(_regrets(task, aware, bounds[ids[i]]))
    used = portfolio.similarity.learned.used
    return np.mean(rows_u, axis=0), np.mean(rows_f, axis=0), used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--families", nargs="+", default=["shift", "shift-noise", "synthetic"])
    args = parser.parse_args()
    print(f"| family | warm start | {' | '.join(f'regret@{k}' for k in KS)} | features used |")
    print("| --- | --- |" + " ---: |" * len(KS) + " ---: |")
    for name in args.families:
        family = get_family(name)
        bounds = _bounds(family)
        runs = [one_split(family, seed, bounds) for seed in range(args.splits)]
        used = sum(r[2] for r in runs)
        for label, index in (("uniform", 0), ("feature-aware", 1)):
            values = np.array([r[index] for r in runs])
            cells = " | ".join(f"{m:.3f} ± {s:.3f}"
                               for m, s in zip(values.mean(0), values.std(0), strict=True))
            print(f"| {name} | {label} | {cells} | {used}/{args.splits} |")


if __name__ == "__main__":
    main()
