"""A surrogate benchmark as a results table: the same uniform configurations on every task.

A surrogate family (``yahpo-lcbench``, any ``yahpo-SCENARIO``) answers every configuration,
including the corners of its space, where it extrapolates: on ``yahpo-lcbench`` both ``gp``
and ``metasearch`` end their 100-trial searches with most numeric parameters at a bound, at
accuracies far above the best of the warehouse's uniform draws ("The surrogate's corners" in
docs/issue-13-passes.md). HPO-B's protocol avoids that by searching a finite set of evaluated
configurations. This script builds such a set from a surrogate: ``--configs`` seeded uniform
configurations, the same ones for every task (so the warehouse replays them as a table),
each valued at the full budget, written as the warehouse's long-format table (one row per
trial, step 0: a table without curves, as HPO-B's)::

    python benchmarks/surrogate_table.py yahpo-lcbench --data ../shared/benchmarks \\
        --configs 2000 --out lcbench-table.csv.gz
    metasearch warehouse ingest-table lcbench-table.csv.gz -f lcbench-table \\
        --space lcbench-table.space.json -w table.db
    metasearch compare -f lcbench-table -w table.db --seeds 5 --budget 100 \\
        --methods metasearch,gp,tpe,random

``--out``'s ``.space.json`` sibling is the family's space (metasearch's JSON), so the stored
family keeps its log scales and integer parameters instead of inferring them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # this checkout's metasearch, not an installed one


def table(family_name: str, n_configs: int, seed: int) -> pd.DataFrame:
    """One row per (task, configuration): the final value of each of ``n_configs`` shared
    uniform configurations on every task of the surrogate family ``family_name``."""
    from metasearch.families import TabularFamily, get_family

    family = get_family(family_name)
    if isinstance(family, TabularFamily):
        raise SystemExit(f"{family_name} is a table already: import it with "
                         f"`metasearch warehouse import {family_name}`")
    rng = np.random.default_rng(seed)
    configs = [family.space.sample(rng) for _ in range(n_configs)]
    flats = [family.space.flatten(c) for c in configs]
    rows = []
    start = time.perf_counter()
    for i, task in enumerate(family.tasks()):
        for number, (config, flat) in enumerate(zip(configs, flats, strict=True)):
            result = task.evaluate(config, device="cpu", seed=seed)
            value = result.final_value
            ok = value is not None and bool(np.isfinite(value))
            rows.append({"task": task.id, "trial": number, "step": 0 if ok else None,
                         "value": value if ok else None,
                         "status": "complete" if ok else "failed", **flat})
        print(f"{i + 1} tasks, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    frame = pd.DataFrame(rows)
    frame["step"] = frame["step"].astype("Int64")  # integers, empty where a trial failed
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("family", help="a surrogate family, e.g. yahpo-lcbench")
    parser.add_argument("--data", type=Path, help="the benchmark data folder (else "
                        "$METASEARCH_BENCHMARKS)")
    parser.add_argument("--configs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="a .csv or .csv.gz")
    args = parser.parse_args()
    from metasearch.families import get_family, set_data_path

    if args.data is not None:
        set_data_path(args.data)
    frame = table(args.family, args.configs, args.seed)
    failed = frame["status"] == "failed"
    frame.to_csv(args.out, index=False)
    space_path = args.out.with_name(args.out.name.split(".")[0] + ".space.json")
    space_path.write_text(json.dumps(get_family(args.family).space.to_dict()))
    print(f"{args.out}: {frame['task'].nunique()} tasks x {args.configs} configurations "
          f"({int(failed.sum())} failed); space in {space_path}")


if __name__ == "__main__":
    main()
