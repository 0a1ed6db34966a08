"""Trials per second, batched (``Task.evaluate_batch``) against one at a time, per family.

    python benchmarks/batched_throughput.py [--k 16] [--epochs 3] [--device cpu|cuda] [--quick]

Both sides train the same K configurations (one architecture, each with its own learning rate,
weight decay and seed: HFTA's setting) for the same epochs on the same device. Each measurement
runs in a fresh subprocess after a warm-up, so its peak memory (``VmHWM`` on the CPU,
``torch.cuda.max_memory_allocated`` on CUDA) is its own. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _memory import peak_rss_mb

CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "tabular-mlp": ("digits", {"width": 64, "depth": 2, "dropout": 0.0, "activation": "relu",
                               "batch_size": 32, "optimizer": "adam"}),
    "cell-cnn": ("digits", {"cell": CELL, "channels": 16, "batch_size": 64, "optimizer": "adam"}),
}

DATA_TYPES = {"tabular-mlp": "TabularData", "cell-cnn": "ImageData"}


def configs(family: str, k: int) -> list[dict[str, Any]]:
    """K configurations of one shape: learning rates and weight decays spread log-uniformly."""
    shape = SHAPES[family][1]
    return [{**shape, "lr": 10 ** (-3 + 1.5 * i / max(1, k - 1)),
             "weight_decay": 10 ** (-5 + 3 * ((i * 7) % k) / max(1, k - 1))} for i in range(k)]


def export_data(folder: Path) -> None:
    """Save the benchmark tasks' splits as ``.npz`` (for a machine without scikit-learn)."""
    from metasearch.families import get_family

    folder.mkdir(parents=True, exist_ok=True)
    for family, (task_id, _) in SHAPES.items():
        data: Any = get_family(family).task(task_id).data  # type: ignore[attr-defined]
        arrays = {k: getattr(data, k) for k in ("x_train", "y_train", "x_valid", "y_valid",
                                                  "x_test", "y_test")}
        np.savez(folder / f"{family}.npz", n_classes=data.n_classes, **arrays)


def load_task(family: str) -> Any:
    """The family's benchmark task, its data read from ``$METASEARCH_BENCH_DATA`` when set
    (see :func:`export_data`), else built (which needs scikit-learn)."""
    from metasearch.families import get_family

    task = get_family(family).task(SHAPES[family][0])
    folder = os.environ.get("METASEARCH_BENCH_DATA")
    if folder:
        with np.load(Path(folder) / f"{family}.npz") as saved:
            fields = {k: saved[k] for k in saved.files if k != "n_classes"}
            rows = (np.arange(0), np.arange(0), np.arange(0))
            data_type = getattr(sys.modules[type(task).__module__], DATA_TYPES[family])
            task.__dict__["data"] = data_type(**fields, rows=rows,
                                              n_classes=int(saved["n_classes"]))
    return task


def _child(family: str, mode: str, k: int, epochs: int, device: str, repeats: int) -> None:
    import torch

    task = load_task(family)
    # Measure the stacked path even where evaluate_batch would not take it (cell-cnn on a CPU).
    setattr(sys.modules[type(task).__module__], "STACK_ON_CPU", True)  # noqa: B010
    task.prepare()
    batch = configs(family, k)
    if mode == "batched":  # warm-up: the first calls of a path build kernels and caches
        task.evaluate_batch(batch, 1, device=device, seeds=list(range(k)))
    else:
        task.evaluate(batch[0], 1, device=device, seed=0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds = math.inf
    for _ in range(repeats):  # the best of a few: the machine may be shared
        start = time.perf_counter()
        if mode == "batched":
            results = task.evaluate_batch(batch, epochs, device=device, seeds=list(range(k)))
        else:
            results = [task.evaluate(c, epochs, device=device, seed=s)
                       for s, c in enumerate(batch)]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = min(seconds, time.perf_counter() - start)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = peak_rss_mb()
    failed = sum(r.status != "complete" for r in results)
    print(json.dumps({"seconds": seconds, "trials_per_s": k / seconds, "peak_mb": peak,
                      "failed": failed, "threads": torch.get_num_threads()}))


def measure(family: str, mode: str, k: int, epochs: int, device: str, repeats: int = 3,
            ) -> dict[str, Any]:
    """One measurement (the best of ``repeats``) in a fresh process."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", family, mode, str(k), str(epochs), device,
         str(repeats)],
        capture_output=True, text=True, check=True,
    )
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def rows(k: int, epochs: dict[str, int], devices: list[str]) -> list[dict[str, Any]]:
    """The run_all protocol's rows: one per family and device."""
    out = []
    for device in devices:
        for family in SHAPES:
            seq = measure(family, "sequential", k, epochs[family], device)
            bat = measure(family, "batched", k, epochs[family], device)
            memory = "GPU" if device.startswith("cuda") else "RSS"
            out.append({
                "path": f"trials/s {family} ({device})",
                "baseline": "one at a time",
                "ratio": bat["trials_per_s"] / seq["trials_per_s"],
                "detail": f"K={k}, {epochs[family]} epochs, {bat['threads']} threads, best of 3: "
                          f"{bat['trials_per_s']:.2f} vs {seq['trials_per_s']:.2f} trials/s",
                "peak_mb": f"{bat['peak_mb']:.0f} {memory} (vs {seq['peak_mb']:.0f})",
            })
    return out


def run_all_rows(quick: bool) -> list[dict[str, Any]]:
    """Rows for ``benchmarks/run_all`` (see the README): CPU, and CUDA when present."""
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    epochs = {"tabular-mlp": 2, "cell-cnn": 1} if quick else {"tabular-mlp": 5, "cell-cnn": 3}
    return rows(8 if quick else 16, epochs, devices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=16, help="configurations per batch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        family, mode, k, epochs, device, repeats = args.child
        _child(family, mode, int(k), int(epochs), device, int(repeats))
        return
    print("| hot path | ratio | details | peak MB |")
    print("| --- | ---: | --- | --- |")
    for row in rows(args.k, dict.fromkeys(SHAPES, args.epochs), [args.device]):
        print(f"| {row['path']} | {row['ratio']:.2f}x | {row['detail']} | {row['peak_mb']} |",
              flush=True)


if __name__ == "__main__":
    main()
