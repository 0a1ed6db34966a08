"""Where one `metasearch compare` run's wall time goes: sampler, pruner, evaluation, the rest.

Runs one (task, method, seed) run of a comparison under cProfile, for each method given, with
the shipped `synthetic` model (or `--model`), and prints per trial: the wall time, the
sampler's seconds (what compare stores as ``suggest_s``), MetaPruner's ``prune`` calls, and
the evaluation's recorded ``cost_s`` (what ``runs.csv``/``costs.csv`` report as a trial's
cost). It answers "is a metasearch trial slow because of the pruner?" with the parts side
by side in one process.

    python benchmarks/compare_run_profile.py --methods metasearch,no-pruner --budget 40
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

from metasearch.compare import plan_compare, run_unit
from metasearch.compare._execute import SUGGEST_ATTR, finished_trials, open_storage


def _cumulative(stats: pstats.Stats, file_end: str, name: str) -> tuple[float, int]:
    """Cumulative seconds and calls of the function ``name`` defined in ``...file_end``."""
    for (file, _, func), (_, calls, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and file.endswith(file_end):
            return cum, calls
    return 0.0, 0


def profile(method: str, task: str, budget: int, model: Path, out: Path) -> list[str]:
    """One run of ``method`` on ``task`` profiled; a Markdown row of per-trial seconds."""
    plan = plan_compare(family="synthetic", warehouse=None, out=out / method, test=[task],
                        methods=[method], seeds=1, budget=budget, model=model)
    unit = plan.units[0]
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    run_unit(unit)
    profiler.disable()
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name=unit.study_name, storage=open_storage(plan.storage))
    trials = finished_trials(study)
    costs = [t.user_attrs.get("cost_s") for t in trials]
    cost = float(np.nanmean([np.nan if c is None else c for c in costs]))
    suggest = float(study.user_attrs[SUGGEST_ATTR])
    prune_s, prune_calls = _cumulative(pstats.Stats(profiler), "_meta_pruner.py", "prune")
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    n = len(trials)
    return [method, f"{wall / n:.3f}", f"{suggest / n:.3f}", f"{prune_s / n:.3f}",
            f"{prune_calls}", f"{1e3 * prune_s / max(prune_calls, 1):.1f}", f"{cost:.3f}",
            f"{pruned}/{n}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="metasearch,no-pruner")
    parser.add_argument("--task", default="synthetic-08")
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--model", type=Path, default=Path("warehouse/models/synthetic"))
    args = parser.parse_args()
    header = ["method", "wall s/trial", "sampler s/trial", "pruner s/trial", "prune calls",
              "ms per prune call", "recorded cost_s/trial", "pruned"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            row = profile(method, args.task, args.budget, args.model, Path(tmp))
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
