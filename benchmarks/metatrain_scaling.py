"""Meta-training seconds and peak memory against warehouse size, per component.

    python benchmarks/metatrain_scaling.py [--points 10000 100000 1000000] [--device cpu]

Each size is a synthetic-family data set of 40 tasks with ``points / 20`` trials in all (the
family's curves have 20 steps), evaluated for real, then meta-trained in a fresh subprocess so
that its peak resident memory (``VmHWM``) is that size's alone. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _memory import peak_rss_mb

KINDS = ("portfolio", "prior", "surrogate", "rgpe", "curves")


def _dataset(points: int, seed: int = 0):  # type: ignore[no-untyped-def]
    from metasearch.families import get_family
    from metasearch.metamodel import MetaDataset

    family = get_family("synthetic")
    tasks = family.task_ids()
    per_task = max(5, points // family.max_budget // len(tasks))
    rng = np.random.default_rng(seed)
    results, features = {}, {}
    for task_id in tasks:
        task = family.task(task_id)
        results[task_id] = [task.evaluate(family.space.sample(rng), device="cpu", seed=seed)
                            for _ in range(per_task)]
        features[task_id] = task.meta_features
    return MetaDataset.from_results(family=family.name, space=family.space,
                                    direction=family.direction, max_budget=family.max_budget,
                                    results=results, meta_features=features)


def _child(points: int, kind: str, device: str) -> None:
    from metasearch.metamodel import MetaModel, TaskSplit

    data = _dataset(points)
    base = peak_rss_mb()
    split = TaskSplit.make(data.task_ids, seed=0)
    start = time.perf_counter()
    MetaModel.train(data, split, kinds=[kind], device=device)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    trials = sum(h.n_trials for h in data.tasks.values())
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "data_mb": base,
                      "trials": trials}))


def measure(points: int, kind: str, device: str) -> dict[str, float]:
    """Fit ``kind`` on a data set of ``points`` curve points, in a fresh subprocess."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(points), kind, device],
        capture_output=True, text=True, check=True,
    )
    row: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def run_all_rows(quick: bool) -> list[dict[str, object]]:
    """Rows for ``benchmarks/run_all``: fit seconds on more data against the base size (a ratio
    equal to the data ratio, 5x quick and 10x full, is linear scaling). The base must leave
    the surrogates' scoring more than 6 trials per task, hence 10,000 points at least."""
    small, large = (10_000, 50_000) if quick else (100_000, 1_000_000)
    rows: list[dict[str, object]] = []
    for kind in KINDS:
        base, big = measure(small, kind, "cpu"), measure(large, kind, "cpu")
        rows.append({
            "path": f"meta-train {kind}, {large:,} curve points",
            "baseline": f"{small:,} points ({large // small}x less data)",
            "ratio": big["seconds"] / base["seconds"],
            "detail": f"{big['seconds']:.2f} s vs {base['seconds']:.2f} s",
            "peak_mb": f"{big['peak_mb']:.0f} RSS (data {big['data_mb']:.0f})",
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(int(args.child[0]), args.child[1], args.child[2])
        return
    print("| curve points | trials | component | fit seconds | peak RSS MB (data alone) |")
    print("| ---: | ---: | --- | ---: | ---: |")
    for points in args.points:
        for kind in args.kinds:
            row = measure(points, kind, args.device)
            print(f"| {points:,} | {row['trials']:,} | {kind} | {row['seconds']:.1f} | "
                  f"{row['peak_mb']:.0f} ({row['data_mb']:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
