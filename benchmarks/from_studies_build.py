"""Seconds to build ``MetaSampler.from_studies`` from past studies, first time and cached,
next to building Optuna's ``TPESampler``.

    python benchmarks/from_studies_build.py [--studies 10] [--trials 100] [--fsbo] [--json]

The past: ``--studies`` SQLite studies of ``--trials`` finished trials each (random
configurations of a four-parameter space, valued by a shifted bowl per study, added with
``study.add_trials``: no objective runs). Each figure is measured in a fresh Python process
around the one call a user makes (``MetaSampler.from_studies(storage)`` or
``optuna.samplers.TPESampler(seed=0)``), after the imports, so interpreter start-up counts for
neither side: *first* with an empty cache folder (read the studies, meta-train, save), *cached*
in another process afterwards (read the studies, fingerprint them, load the model; loading a
saved model imports torch, timed alone on its own row; and once more in a process that has
imported torch already). ``--fsbo``
adds the first build with FSBO's deep-kernel surrogate instead of the default RGPE.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

_TIMED = """
import json, sys, time, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
from metasearch import MetaSampler
storage, what = sys.argv[1], sys.argv[2]
if what == "warm":
    import torch  # what a process that already uses torch has paid
start = time.perf_counter()
if what == "tpe":
    optuna.samplers.TPESampler(seed=0)
elif what == "torch":
    import torch
else:
    kinds = ["portfolio", "prior", "surrogate"] if what == "fsbo" else None
    kwargs = {"components": kinds} if kinds else {}
    sampler = MetaSampler.from_studies(storage, **kwargs)
    assert sampler.model is not None
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def make_studies(storage: str, n_studies: int, n_trials: int) -> None:
    """``n_studies`` studies of ``n_trials`` random trials each (no objective is run)."""
    import numpy as np
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dists = {"lr": FloatDistribution(1e-5, 1.0, log=True), "x": FloatDistribution(-5.0, 5.0),
             "layers": IntDistribution(1, 8), "opt": CategoricalDistribution(["adam", "sgd"])}
    for i in range(n_studies):
        rng = np.random.default_rng(i)
        study = optuna.create_study(storage=storage, study_name=f"past-{i}")
        trials = []
        for _ in range(n_trials):
            params = {"lr": float(np.exp(rng.uniform(np.log(1e-5), 0.0))),
                      "x": float(rng.uniform(-5, 5)), "layers": int(rng.integers(1, 9)),
                      "opt": str(rng.choice(["adam", "sgd"]))}
            value = ((np.log10(params["lr"]) + 3 + 0.1 * i) ** 2 + (params["x"] - 0.2 * i) ** 2
                     + 0.1 * params["layers"] + (params["opt"] == "sgd"))
            trials.append(optuna.trial.create_trial(params=params, distributions=dists,
                                                    value=float(value)))
        study.add_trials(trials)


def timed(storage: str, what: str, cache: Path) -> float:
    """Seconds of the one call, in a fresh process with ``cache`` as the model cache."""
    env = {**os.environ, "METASEARCH_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _TIMED, storage, what], capture_output=True,
                          text=True, env=env, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def measure(n_studies: int, n_trials: int, fsbo: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'past.db'}"
        make_studies(storage, n_studies, n_trials)
        cache = Path(tmp) / "cache"
        out = {"studies": n_studies, "trials": n_trials,
               "tpe_s": timed(storage, "tpe", cache),
               "torch_import_s": timed(storage, "torch", cache),
               "first_s": timed(storage, "default", cache),
               "cached_s": timed(storage, "default", cache),
               "cached_warm_s": timed(storage, "warm", cache)}
        if fsbo:
            out["fsbo_first_s"] = timed(storage, "fsbo", Path(tmp) / "cache-fsbo")
            out["fsbo_cached_s"] = timed(storage, "fsbo", Path(tmp) / "cache-fsbo")
    return out


def table(result: dict[str, Any]) -> str:
    size = f"{result['studies']} studies x {result['trials']} trials"
    rows = [("TPESampler(seed=0)", result["tpe_s"]),
            ("MetaSampler.from_studies, first (learn, save)", result["first_s"]),
            ("MetaSampler.from_studies, cached (another process)", result["cached_s"]),
            ("  of which at most: import torch (reading any saved model)",
             result["torch_import_s"]),
            ("MetaSampler.from_studies, cached, torch already imported", result["cached_warm_s"])]
    if "fsbo_first_s" in result:
        rows += [("from_studies with FSBO surrogate, first", result["fsbo_first_s"]),
                 ("from_studies with FSBO surrogate, cached", result["fsbo_cached_s"])]
    lines = [f"| build ({size}) | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.4f} |" for name, seconds in rows]
    return "\n".join(lines)


def run_all_rows(quick: bool) -> list[dict[str, object]]:
    """``run_all``'s rows: cached and first build against building a TPESampler."""
    n_studies, n_trials = (5, 40) if quick else (10, 100)
    result = measure(n_studies, n_trials, fsbo=False)
    size = f"{n_studies} studies x {n_trials} trials"
    return [
        {"path": f"s to build from_studies, cached ({size})", "baseline": "TPESampler()",
         "ratio": result["cached_s"] / result["tpe_s"],
         "detail": f"{result['cached_s']:.3f}s vs {result['tpe_s']:.5f}s"},
        {"path": f"s to build from_studies, first ({size})", "baseline": "TPESampler()",
         "ratio": result["first_s"] / result["tpe_s"],
         "detail": f"{result['first_s']:.1f}s vs {result['tpe_s']:.5f}s"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--fsbo", action="store_true", help="also FSBO's surrogate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.studies, args.trials, args.fsbo)
    print(json.dumps(result, indent=1) if args.json else table(result))


if __name__ == "__main__":
    main()
