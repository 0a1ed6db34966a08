"""The GPU half of issue #7, in one go on a lent GPU: stacked training on CUDA, checked and timed.

    python benchmarks/gpu_check.py --export DIR    # here, where scikit-learn is installed
    METASEARCH_BENCH_DATA=DIR python benchmarks/gpu_check.py --k 8 32   # on the GPU machine

1. Equivalence on CUDA: K configurations of each family, stacked and one at a time, 2 epochs;
   prints the largest curve difference (bf16 autocast on CUDA: expect a few hundredths of
   accuracy, not bitwise equality) and fails if a status differs or a curve is off by > 0.1.
2. Trials per second stacked against one at a time (``batched_throughput.rows``) for each K,
   with peak GPU memory (``torch.cuda.max_memory_allocated``). The goal is >= 10x.

Needs torch and numpy (and pandas, which the package's data classes import); not Optuna, and
not scikit-learn when the data come from ``--export``. ``benchmarks/gpu_check.sh`` wraps it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import batched_throughput as bt


def check_equivalence(family: str, k: int, device: str) -> float:
    """Largest curve difference between stacked and one-at-a-time training on ``device``."""
    task = bt.load_task(family)
    setattr(sys.modules[type(task).__module__], "STACK_ON_CPU", True)  # noqa: B010
    configs = bt.configs(family, k)
    seeds = list(range(k))
    alone = [task.evaluate(c, 2, device=device, seed=s)
             for c, s in zip(configs, seeds, strict=True)]
    together = task.evaluate_batch(configs, 2, device=device, seeds=seeds)
    worst = 0.0
    for one, many in zip(alone, together, strict=True):
        if one.status != many.status:
            raise SystemExit(f"{family}: status {many.status} stacked vs {one.status} alone")
        if one.curve:
            worst = max(worst, float(np.max(np.abs(np.subtract(one.curve, many.curve)))))
    if worst > 0.1:
        raise SystemExit(f"{family}: stacked curve off by {worst:.3f} on {device}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help="save the tasks' data here and stop")
    parser.add_argument("--k", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.export:
        bt.export_data(args.export)
        print(f"wrote {sorted(p.name for p in args.export.glob('*.npz'))} to {args.export}")
        return
    import torch

    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"torch {torch.__version__} on {name}\n")
    for family in bt.SHAPES:
        print(f"equivalence {family}: max curve difference "
              f"{check_equivalence(family, 4, args.device):.4f}", flush=True)
    print("\n| hot path | ratio | details | peak MB |\n| --- | ---: | --- | --- |")
    for k in args.k:
        for row in bt.rows(k, dict.fromkeys(bt.SHAPES, args.epochs), [args.device]):
            print(f"| {row['path']} | {row['ratio']:.2f}x | {row['detail']} | {row['peak_mb']} |",
                  flush=True)


if __name__ == "__main__":
    main()
