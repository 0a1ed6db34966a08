"""Seconds per trial of every registered family, on the CPU and on CUDA when present.

    python benchmarks/trial_cost.py [--trials 10] [--tasks 3] [--family F ...]

Each family evaluates the same random configurations (seeded) at its full budget on its first
few tasks; the table gives the median and 90th percentile seconds per full evaluation, and the
share of trials that failed.
"""

from __future__ import annotations

import argparse
import platform
import statistics

import numpy as np

from metasearch.families import family_names, get_family


def measure(family_name: str, device: str, n_trials: int, n_tasks: int) -> dict[str, float]:
    family = get_family(family_name)
    rng = np.random.default_rng(0)
    seconds: list[float] = []
    failed = 0
    for task_id in family.task_ids()[:n_tasks]:
        task = family.task(task_id)
        for _ in range(n_trials):
            result = task.evaluate(family.space.sample(rng), device=device, seed=0)
            seconds.append(result.cost_s)
            failed += result.status == "failed"
    ordered = sorted(seconds)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[int(0.9 * (len(ordered) - 1))],
        "failed": failed / len(ordered),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="configurations per task")
    parser.add_argument("--tasks", type=int, default=3, help="tasks per family")
    parser.add_argument("--family", action="append", help="only these families")
    args = parser.parse_args()
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    names = args.family or family_names()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print("| family | device | epochs | trials | median s/trial | p90 s/trial | failed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        for device in devices if get_family(name).uses_torch else ["cpu"]:
            row = measure(name, device, args.trials, args.tasks)
            print(f"| {name} | {device} | {get_family(name).max_budget} | {row['n']} | "
                  f"{row['median']:.3f} | {row['p90']:.3f} | {row['failed']:.0%} |")


if __name__ == "__main__":
    main()
