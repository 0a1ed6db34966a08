"""Warehouse throughput: bulk ingest, per-trial writes, and the meta-training read.

Writes ``--points`` curve points (``--steps`` per trial, over ``--tasks`` tasks) in transactions
of ``--batch`` trials, then reads every curve and every trial of the family back into
DataFrames, on SQLite and, with ``--postgres URL`` (or ``$METASEARCH_TEST_POSTGRES_URL``), on
PostgreSQL (in a schema of its own, dropped afterwards). Also times ``--single`` one-trial
transactions, the write ``metasearch run`` and ``warehouse build`` make per finished trial.
Prints a Markdown table.

    python benchmarks/warehouse_ingest.py                    # 1M points
    python benchmarks/warehouse_ingest.py --points 100000    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _memory import peak_rss_mb

from metasearch.spaces import Categorical, Float, Int, SearchSpace
from metasearch.warehouse import FamilySpec, RunSpec, TrialData, Warehouse

SPACE = SearchSpace((Float("lr", 1e-5, 1.0, log=True), Int("width", 8, 512, log=True),
                     Float("dropout", 0.0, 0.8), Categorical("optimizer", ("adam", "sgd"))))
FAMILY = FamilySpec("bench", "valid_accuracy", "maximize", None, SPACE, source="table")


def make_trials(n_trials: int, steps: int, tasks: int, seed: int) -> list[TrialData]:
    """Trials with random configurations and saturating curves of ``steps`` points."""
    rng = np.random.default_rng(seed)
    rises = 1.0 - np.exp(-np.arange(1, steps + 1)[None, :] / rng.uniform(1, 10, (n_trials, 1)))
    curves = rises * rng.uniform(0.3, 0.95, (n_trials, 1))
    trials = []
    for number in range(n_trials):
        curve = tuple(curves[number].tolist())
        trials.append(TrialData(
            task=f"task-{number % tasks:03d}", number=number, config=SPACE.sample(rng),
            status="complete", curve=curve, elapsed=tuple(0.5 * s for s in range(1, steps + 1)),
            final_value=curve[-1], test_value=curve[-1] - 0.01, cost_s=0.5 * steps,
            budget=steps, seed=number, device="cpu",
        ))
    return trials


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema, dropped on exit."""
    import sqlalchemy

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sqlalchemy.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def measure(url: str, trials: list[TrialData], batch: int, single: int) -> dict[str, float]:
    """Seconds of each phase, and the sizes read back."""
    points = sum(len(t.curve) for t in trials)
    with Warehouse.open(url) as store:
        start = time.perf_counter()
        for first in range(0, len(trials), batch):
            store.ingest(FAMILY, RunSpec("bulk", "bench"), trials[first:first + batch])
        ingest = time.perf_counter() - start
        start = time.perf_counter()
        store.ingest(FAMILY, RunSpec("bulk", "bench"), trials[:batch])
        again = time.perf_counter() - start
        extra = make_trials(single, len(trials[0].curve), 40, seed=1)
        start = time.perf_counter()
        for trial in extra:
            store.ingest(FAMILY, RunSpec("single", "bench"), [trial])
        per_trial = (time.perf_counter() - start) / single
        start = time.perf_counter()
        curves = store.curves("bench")
        read_curves = time.perf_counter() - start
        start = time.perf_counter()
        frame = store.trials("bench")
        read_trials = time.perf_counter() - start
    assert len(curves) == points + single * len(trials[0].curve), len(curves)
    return {"points": points, "trials": len(trials), "ingest_s": ingest,
            "points_per_s": points / ingest, "again_s": again, "single_ms": 1000 * per_trial,
            "read_curves_s": read_curves, "curve_rows": len(curves),
            "read_trials_s": read_trials, "trial_rows": len(frame)}


def run_all_rows(quick: bool) -> list[dict[str, object]]:
    """Rows for ``benchmarks/run_all``: bulk ingest (many trials per transaction) against one
    trial per transaction, on SQLite, measured in a fresh subprocess for its peak memory."""
    points = 50_000 if quick else 1_000_000
    done = subprocess.run(
        [sys.executable, __file__, "--points", str(points), "--single", "50", "--row"],
        capture_output=True, text=True, check=True,
    )
    r = json.loads(done.stdout.strip().splitlines()[-1])
    single = r["steps"] / (r["single_ms"] / 1000)
    return [{
        "path": f"warehouse ingest, SQLite, {points:,} curve points",
        "baseline": "one trial per transaction",
        "ratio": r["points_per_s"] / single,
        "detail": f"{r['points_per_s']:,.0f} vs {single:,.0f} points/s; read all curves "
                  f"{r['read_curves_s']:.2f} s",
        "peak_mb": f"{r['peak_mb']:.0f} RSS",
    }]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="Curve points in all.")
    parser.add_argument("--steps", type=int, default=50, help="Curve points per trial.")
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1000, help="Trials per transaction.")
    parser.add_argument("--single", type=int, default=200, help="One-trial writes timed.")
    parser.add_argument("--postgres", default=os.environ.get("METASEARCH_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (default $METASEARCH_TEST_POSTGRES_URL).")
    parser.add_argument("--row", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    trials = make_trials(args.points // args.steps, args.steps, args.tasks, seed=0)
    if args.row:  # one SQLite measurement as JSON, for run_all_rows
        with tempfile.TemporaryDirectory() as folder:
            row = measure(str(Path(folder) / "bench.db"), trials, args.batch, args.single)
        peak = peak_rss_mb()
        print(json.dumps({**row, "steps": args.steps, "peak_mb": peak}))
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(("SQLite", measure(str(Path(folder) / "bench.db"), trials, args.batch,
                                       args.single)))
    if args.postgres:
        with postgres_schema(args.postgres) as url:
            rows.append(("PostgreSQL", measure(url, trials, args.batch, args.single)))
    print(f"{args.points:,} curve points: {len(trials):,} trials x {args.steps} steps, "
          f"{args.tasks} tasks, {args.batch} trials per transaction\n")
    print("| backend | ingest s | points/s | re-ingest of a batch s | one-trial write ms "
          "| read all curves s (rows) | read all trials s (rows) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r['ingest_s']:.1f} | {r['points_per_s']:,.0f} | {r['again_s']:.2f} "
              f"| {r['single_ms']:.1f} | {r['read_curves_s']:.2f} ({r['curve_rows']:,}) "
              f"| {r['read_trials_s']:.2f} ({r['trial_rows']:,}) |")


if __name__ == "__main__":
    main()
