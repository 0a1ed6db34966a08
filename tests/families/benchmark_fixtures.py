"""Small stand-ins for the public benchmark folders, written by the tests into a temp folder.

Each writer lays its files out as the shared data is laid out (``nats_tss/*.csv``,
``taskset/*.json``, ``yahpo_lcbench/``), with made-up values computed here, so the families'
readers run on a fresh clone without the data. They are not copies of the data: the tests that
check the real figures run on it when ``METASEARCH_BENCHMARKS`` names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from metasearch.spaces import NB201_OPS, CellSpace
from tests.families.onnx_echo import write_lcbench_echo_model

NATS_COLUMNS = ("cifar10_test_acc_200ep", "cifar100_test_acc_200ep")
NATS_CELLS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "skip_connect~2|",
    # node 1 feeds nothing: its input edge changes nothing (one network, two rows)
    "|none~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|skip_connect~2|",
)


def nats_rows(n: int = 40, seed: int = 0) -> list[tuple[str, float, float]]:
    """``n`` rows ``(arch, cifar10, cifar100)``: :data:`NATS_CELLS` first, then random cells."""
    space = CellSpace.nb201()
    rng = np.random.default_rng(seed)
    archs = list(NATS_CELLS)
    while len(archs) < n:
        arch = space.to_string(space.parse(
            "+".join("|" + "|".join(f"{NB201_OPS[rng.integers(5)]}~{i}" for i in range(j))
                     + "|" for j in (1, 2, 3))))
        if arch not in archs:
            archs.append(arch)
    values = rng.uniform(10.0, 90.0, size=(n, 2))
    return [(a, float(v[0]), float(v[1] * 0.7)) for a, v in zip(archs, values, strict=True)]


def write_nats(root: Path, n: int = 40) -> Path:
    """``root/nats_tss/nats_tss_cifar.csv`` of :func:`nats_rows`; the file."""
    path = root / "nats_tss" / "nats_tss_cifar.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["arch," + ",".join(NATS_COLUMNS)]
    lines += [f"{a},{c10!r},{c100!r}" for a, c10, c100 in nats_rows(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


TASKSET_TASKS = ("FixedTextRNNClassification_imdb_patch32_IRNN64_relu_avg_bs128",
                 "FixedTextRNNClassification_imdb_patch32_GRU128_bs128")
TASKSET_HP = {"learning_rate": (1e-5, 1.0), "beta1": (0.5, 0.99), "beta2": (0.9, 0.9999),
              "epsilon": (1e-8, 1.0), "l1": (1e-8, 1e-2), "l2": (1e-8, 1e-2),
              "linear_decay": (1e-7, 1e-4), "exponential_decay": (1e-6, 1e-3)}


def write_taskset(root: Path, n_runs: int = 20, seed: int = 0) -> Path:
    """``root/taskset/<task>.json`` for two tasks: ``n_runs`` runs each, 51-point loss curves,
    every fifth run diverged (NaN, written as JSON null, from its 10th point); the folder."""
    folder = root / "taskset"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for task in TASKSET_TASKS:
        runs = []
        for k in range(n_runs):
            hp = {name: float(np.exp(rng.uniform(np.log(low), np.log(high))))
                  for name, (low, high) in TASKSET_HP.items()}
            start, rate = rng.uniform(0.6, 0.8), rng.uniform(0.01, 0.1)
            curves = {}
            for split, shift in (("train", 0.0), ("valid", 0.02), ("test", 0.03)):
                loss: list[float | None] = [
                    float(start * np.exp(-rate * t) + 0.3 + shift) for t in range(51)]
                if k % 5 == 4:
                    loss[9:] = [None] * 42
                curves[split] = {"loss": loss}
            runs.append({"hp": hp, **curves})
        (folder / f"{task}.json").write_text(json.dumps(runs))
    return folder


LCBENCH_TASKS = ("3945", "167184", "189909")
LCBENCH_SPACE = {
    "hyperparameters": [
        {"name": "OpenML_task_id", "type": "categorical", "choices": list(LCBENCH_TASKS)},
        {"name": "batch_size", "type": "uniform_int", "log": True, "lower": 16, "upper": 512},
        {"name": "epoch", "type": "uniform_int", "log": False, "lower": 1, "upper": 52},
        {"name": "learning_rate", "type": "uniform_float", "log": True, "lower": 1e-4,
         "upper": 0.1},
        {"name": "max_dropout", "type": "uniform_float", "log": False, "lower": 0.0,
         "upper": 1.0},
        {"name": "max_units", "type": "uniform_int", "log": True, "lower": 64, "upper": 1024},
        {"name": "momentum", "type": "uniform_float", "log": False, "lower": 0.1,
         "upper": 0.99},
        {"name": "num_layers", "type": "uniform_int", "log": False, "lower": 1, "upper": 5},
        {"name": "weight_decay", "type": "uniform_float", "log": False, "lower": 1e-5,
         "upper": 0.1},
    ],
    "conditions": [], "forbiddens": [],
}
LCBENCH_CODES = {"#na#": 0, "3945": 7, "167184": 3, "189909": 5}


def write_lcbench(root: Path) -> Path:
    """``root/yahpo_lcbench/``: LCBench's space over three tasks, their codes, and an ONNX
    model that echoes its input (:func:`write_lcbench_echo_model`); the folder."""
    folder = root / "yahpo_lcbench"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config_space.json").write_text(json.dumps(LCBENCH_SPACE))
    (folder / "encoding.json").write_text(json.dumps({"OpenML_task_id": LCBENCH_CODES}))
    write_lcbench_echo_model(folder / "model.onnx")
    return folder
