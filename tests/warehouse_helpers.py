"""Trials to write, and the work of writer processes (importable by spawned children)."""

from __future__ import annotations

import numpy as np

from metasearch.families import get_family
from metasearch.warehouse import RunSpec, TrialData, Warehouse

FAMILY = "synthetic"


def make_trials(task: str, count: int, points: int, *, start: int = 0,
                seed: int = 0) -> list[TrialData]:
    """``count`` trials of ``task`` with configurations of the synthetic space and curves."""
    space = get_family(FAMILY).space
    rng = np.random.default_rng(seed)
    trials = []
    for number in range(start, start + count):
        curve = tuple(float(v) for v in np.sort(rng.random(points)))
        status = ("complete", "failed", "pruned")[number % 3]
        trials.append(TrialData(
            task=task, number=number, config=space.sample(rng), status=status, curve=curve,
            elapsed=tuple(0.1 * (i + 1) for i in range(points)),
            final_value=curve[-1] if curve else None, test_value=float(rng.random()),
            cost_s=0.5, failure_reason="diverged" if status == "failed" else None,
            budget=points, seed=number, device="cpu", attrs={"n": number},
        ))
    return trials


def write_batches(url: str, worker: int, batches: int, per_batch: int, points: int) -> int:
    """A writer process: ``batches`` transactions of ``per_batch`` trials on shared tasks."""
    family = get_family(FAMILY)
    with Warehouse.open(url) as store:
        for batch in range(batches):
            trials = make_trials(f"{FAMILY}-{batch % 3:02d}", per_batch, points,
                                 start=batch * per_batch, seed=worker * 1000 + batch)
            store.ingest(family, RunSpec(f"writer-{worker}", "test"), trials,
                         meta_features={t.task: {"x": 1.0} for t in trials})
    return worker
