"""Seconds per suggestion at 10, 100 and 1,000 finished trials: MetaSampler against Optuna's.

    python benchmarks/suggestion_time.py [--quick] [--json] [--trials 10 100 1000] [--reps R]

Every sampler gets its own in-memory study of the ``synthetic`` family pre-filled with the same
``n`` finished trials (uniform configurations of the family's space valued by one task's
noise-free ``final_value``; all complete, so TPE and GP model from 10 trials on). A timed
suggestion is
what a worker does before training: ``study.ask()`` and ``space.suggest(trial)``. The trial is
then left RUNNING, as it is while it trains, so every timed suggestion sees exactly ``n``
finished trials (and the earlier timed ones as running trials, which every sampler here either
ignores or only avoids re-proposing). Suggestions of all samplers are interleaved round-robin,
so a load change on a shared machine affects them alike. One untimed suggestion per sampler
warms up lazy imports and caches. GPSampler gets fewer repetitions at 1,000 trials (it is
slow there). Prints a Markdown table (or JSON) of median and p95 seconds per suggestion, and
MetaSampler's ratios to TPE and GPSampler in wall seconds and in this process's CPU seconds
(on a shared machine the CPU ratio is the steadier: time spent waiting for a core is not
counted).

It measures the checkout it lies in: that tree's ``metasearch`` is imported first (whatever
``PYTHONPATH`` or an editable install points at) and its ``warehouse/models/synthetic`` is the
model, unless ``--model`` names another; the header line says which were used.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # this checkout's metasearch, not an installed one

TRIALS = (10, 100, 1000)
TASK = "synthetic-02"  # a held-out task of the shipped model's split
TRANSFER = "MetaSampler (transfer's turn)"
"""MetaSampler with ``explore=False``: every suggestion is the transfer acquisition's. The
pre-filled studies' best trial is almost never among their last 5, so MetaSampler itself is
timed mostly on the turns of the study's own GP (no transfer surrogate's predictions); this
row times the costlier turn, which a study that keeps improving takes."""

METASAMPLERS = ("MetaSampler", TRANSFER)
"""The rows divided by the baselines' (each ratio is given for both; run_all takes the slower)."""
SAMPLERS = (*METASAMPLERS, "TPE (multivariate, group)", "TPE (default)", "GPSampler")
RATIOS = ("TPE (multivariate, group)", "GPSampler")
"""MetaSampler's median is divided by each of these samplers' medians (wall and CPU)."""


MODEL = ROOT / "warehouse" / "models" / "synthetic"
"""The model timed by default: the synthetic family's, shipped in this checkout."""


def _samplers(seed: int, model_dir: Path = MODEL
              ) -> dict[str, Callable[[], optuna.samplers.BaseSampler]]:
    from metasearch.families import get_family
    from metasearch.metamodel import MetaModel
    from metasearch.samplers import make_sampler
    from metasearch.samplers._meta_sampler import MetaSampler

    space = get_family("synthetic").space
    model = MetaModel.load(model_dir, space)
    return {
        "MetaSampler": lambda: MetaSampler(model, seed=seed),
        TRANSFER: lambda: MetaSampler(model, seed=seed, explore=False),
        "TPE (multivariate, group)": lambda: make_sampler("tpe", seed),
        "TPE (default)": lambda: optuna.samplers.TPESampler(seed=seed),
        "GPSampler": lambda: optuna.samplers.GPSampler(seed=seed),
    }


def finished_trials(n: int, seed: int = 0) -> list[optuna.trial.FrozenTrial]:
    """``n`` complete trials of uniform configurations of the synthetic space."""
    from metasearch.families import get_family

    family = get_family("synthetic")
    space, task = family.space, family.task(TASK)
    value: Any = task.final_value  # type: ignore[attr-defined]  # the synthetic family's own
    dists = space.distributions()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        flat = space.flatten(space.sample(rng))
        out.append(optuna.trial.create_trial(
            params=flat, distributions={k: dists[k] for k in flat},
            value=value(space.unflatten(flat)),
        ))
    return out


def _suggest(study: optuna.Study, space: Any) -> tuple[float, float]:
    """Wall and CPU seconds (this process's) of one suggestion."""
    start, cpu = time.perf_counter(), time.process_time()
    trial = study.ask()
    space.suggest(trial)
    # left RUNNING: the next suggestion sees n finished
    return time.perf_counter() - start, time.process_time() - cpu


def time_suggestions(n: int, reps: int, gp_reps: int, seed: int = 0,
                     model_dir: Path = MODEL) -> dict[str, list[tuple[float, float]]]:
    """Wall and CPU seconds of each timed suggestion per sampler, interleaved round-robin."""
    from metasearch.families import get_family

    space = get_family("synthetic").space
    trials = finished_trials(n, seed)
    studies = {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning of multivariate TPE and GP
        for name, make in _samplers(seed, model_dir).items():
            study = optuna.create_study(direction="maximize", sampler=make())
            study.add_trials(trials)
            _suggest(study, space)  # warm-up
            studies[name] = study
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in studies}
        for rep in range(reps):
            for name, study in studies.items():
                if name == "GPSampler" and rep >= gp_reps:
                    continue
                times[name].append(_suggest(study, space))
    return times


def _stats(values: list[float]) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 95))


def measure(trial_counts: tuple[int, ...], quick: bool, reps: int | None = None,
            model_dir: Path = MODEL) -> list[dict[str, Any]]:
    """One record per trial count: median and p95 seconds (wall, and CPU) of every sampler."""
    records = []
    for n in trial_counts:
        r = reps or (5 if quick else 20)
        gp_reps = min(r, 3 if quick else 8) if n >= 1000 else r
        times = time_suggestions(n, r, gp_reps, model_dir=model_dir)
        records.append({"trials": n, "reps": {k: len(v) for k, v in times.items()},
                        "seconds": {k: _stats([w for w, _ in v]) for k, v in times.items()},
                        "cpu_seconds": {k: _stats([c for _, c in v])
                                        for k, v in times.items()}})
    return records


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rows_of(records: list[dict[str, Any]], peak_mb: float | None) -> list[dict[str, Any]]:
    """The run_all protocol's rows: MetaSampler against multivariate TPE at each count."""
    out = []
    for rec in records:
        sec = rec["seconds"]
        worst = max(METASAMPLERS, key=lambda k: sec[k][0])
        meta, tpe = sec[worst], sec["TPE (multivariate, group)"]
        detail = ", ".join(f"{name} {med * 1e3:.1f}/{p95 * 1e3:.1f} ms"
                           for name, (med, p95) in sec.items())
        cpu = rec["cpu_seconds"][worst][0] / rec["cpu_seconds"][RATIOS[0]][0]
        out.append({"path": f"suggestion, {rec['trials']} trials", "baseline": "TPE",
                    "ratio": meta[0] / tpe[0],
                    "detail": f"{worst} (the slower MetaSampler row) against TPE; "
                              f"median/p95: {detail}; CPU-seconds ratio {cpu:.2f}x",
                    "peak_mb": peak_mb})
    return out


def run_all_rows(quick: bool) -> list[dict[str, Any]]:
    """Rows for ``benchmarks/run_all`` (see the README): one per trial count."""
    return rows_of(measure(TRIALS, quick), _peak_mb())


def table(records: list[dict[str, Any]]) -> str:
    """A Markdown table: median / p95 wall milliseconds per sampler and trial count, and
    MetaSampler's median over TPE's and GPSampler's, in wall and in CPU seconds (on a shared
    machine the CPU ratio is the steadier: waiting for a core is not counted)."""
    ratios = [f"{m} / {'TPE' if r.startswith('TPE') else r} ({kind})"
              for kind in ("wall", "CPU") for m in METASAMPLERS for r in RATIOS]
    head = "| finished trials | " + " | ".join([*SAMPLERS, *ratios]) + " |"
    lines = [head, "| ---: |" + " ---: |" * (len(SAMPLERS) + len(ratios))]
    for rec in records:
        sec, reps = rec["seconds"], rec["reps"]
        cells = [f"{sec[s][0] * 1e3:.1f} / {sec[s][1] * 1e3:.1f} (n={reps[s]})"
                 for s in SAMPLERS]
        cells += [f"{rec[kind][m][0] / rec[kind][r][0]:.2f}x"
                  for kind in ("seconds", "cpu_seconds") for m in METASAMPLERS
                  for r in RATIOS]
        lines.append(f"| {rec['trials']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 repetitions instead of 20")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--trials", type=int, nargs="+", default=list(TRIALS))
    parser.add_argument("--reps", type=int, default=None, help="timed suggestions per sampler")
    parser.add_argument("--model", type=Path, default=MODEL, help="the synthetic model to time")
    args = parser.parse_args()
    import metasearch

    print(f"metasearch from {Path(metasearch.__file__).parent}, model {args.model}",
          file=sys.stderr)
    records = measure(tuple(args.trials), args.quick, args.reps, args.model)
    if args.json:
        print(json.dumps({"records": records, "rows": rows_of(records, _peak_mb()),
                          "load": os.getloadavg()}, indent=2))
        return
    print(f"median / p95 ms per suggestion (ask + space.suggest); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(table(records))


if __name__ == "__main__":
    main()
