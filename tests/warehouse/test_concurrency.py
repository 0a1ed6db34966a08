"""Real processes: eight writers at once lose no row; a writer killed mid-ingest loses nothing
committed and leaves the store consistent."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from warehouse_helpers import make_trials, write_batches

from metasearch.families import get_family
from metasearch.warehouse import RunSpec, Warehouse

WRITERS, BATCHES, PER_BATCH, POINTS = 8, 6, 5, 10


def test_eight_processes_writing_at_once_lose_no_row(warehouse_url: str) -> None:
    # The warehouse does not exist yet: the writers also race to create its schema.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WRITERS, mp_context=context) as pool:
        futures = [pool.submit(write_batches, warehouse_url, w, BATCHES, PER_BATCH, POINTS)
                   for w in range(WRITERS)]
        assert sorted(f.result(timeout=300) for f in futures) == list(range(WRITERS))
    with Warehouse.open(warehouse_url) as store:
        trials = WRITERS * BATCHES * PER_BATCH
        assert store.counts() == {"families": 1, "tasks": 3, "runs": WRITERS,
                                  "trials": trials, "curve_points": trials * POINTS}
        frame = store.trials("synthetic")
        assert not frame.duplicated(["run", "task", "number"]).any()
        assert frame.groupby("run").size().eq(BATCHES * PER_BATCH).all()


CHILD = """
import sys
from warehouse_helpers import make_trials
from metasearch.families import get_family
from metasearch.warehouse import RunSpec, Warehouse

family = get_family("synthetic")
with Warehouse.open(sys.argv[1]) as store:
    for b in range(100):
        trials = make_trials("synthetic-00", 400, 40, seed=b)
        print("begin", b, flush=True)
        store.ingest(family, RunSpec(f"batch-{b}", "test"), trials)
        print("committed", b, flush=True)
"""


def test_a_writer_killed_mid_ingest_keeps_every_commit(warehouse_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parent), *sys.path])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, warehouse_url], env=env,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    committed = -1
    for line in child.stdout:
        word, number = line.split()
        if word == "committed":
            committed = int(number)
        if word == "begin" and int(number) == 4:
            time.sleep(0.03)  # inside the transaction of batch 4 (it takes 0.1-0.5 s)
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL and committed == 3
    if not warehouse_url.startswith("postgresql"):
        check = sqlite3.connect(warehouse_url).execute("PRAGMA integrity_check").fetchone()
        assert check == ("ok",)
    with Warehouse.open(warehouse_url) as store:
        runs = store.trials("synthetic").groupby("run").size().to_dict()
        # Every batch that committed is whole; the one in flight is absent or whole.
        assert {f"batch-{b}" for b in range(4)} <= set(runs) <= {f"batch-{b}" for b in range(5)}
        assert set(runs.values()) == {400}
        assert store.counts()["curve_points"] == 400 * 40 * len(runs)
        # And the store takes writes again at once: no lock was left behind.
        added = store.ingest(get_family("synthetic"), RunSpec("after", "test"),
                             make_trials("synthetic-01", 3, 2))
        assert added.added == 3
