"""Trace what MetaSampler's acquisition proposes after the warm-start portfolio.

Issue #13's ablations on ``synthetic`` ran the wrong way round (the sampler without its local
search, and without the target GP, ended lower than with both), so this script records, for
every proposal the acquisition makes (not the portfolio's), what drove it:

* ``dist_inc``: distance of the proposal to the incumbent's encoding, and ``dist_min`` to the
  nearest tried configuration (Euclidean on the unit encoding over ``sqrt(d)``);
* ``ei_spread`` / ``prior_spread``: the interquartile range, over the scored candidates, of the
  log EI term and of the prior's term ``beta / n * log density`` (which of the two ranks them);
* ``ei_rank`` / ``prior_rank``: the share of candidates whose EI (prior) term is above the
  proposal's (0: the proposal is the EI-best);
* ``climbed``: whether the proposal came from the local search rather than the drawn pool;
* ``w_target``: the target GP's weight in the blend;
* ``trust``: the prior's trust (:func:`prior_trust`), which scales its exponent.

It reruns the searches of a finished ``compare`` (same split, model, seeds, objective, pruner
and, on a finite table, choices, as ``compare`` builds them) in memory, so nothing of the
comparison is touched::

    python benchmarks/acquisition_trace.py --out COMPARE_OUT --quick --methods no-pruner,random-acq

prints medians by method and trial, and writes ``trace.csv`` beside ``--csv``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from metasearch.compare._execute import unit_search
from metasearch.compare._plan import QUICK, benchmark_family, plan_compare
from metasearch.samplers import _meta_acquisition as acq_module

ROWS: list[dict[str, Any]] = []
CURRENT: dict[str, Any] = {}


def _iqr(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return 0.0
    q1, q3 = np.percentile(finite, [25, 75])
    return float(q3 - q1)


def _traced_best(original: Any) -> Any:
    def best(self: Any, configs: list[dict[str, Any]], space: Any, support: Any,
             make: Any = None, rng: Any = None) -> Any:
        chosen = original(self, configs, space, support, make, rng)
        if chosen is None or self.predictor is None or not support.n_ok:
            return chosen
        x = space.encode_many(configs, validated=True)
        xc = space.encode(chosen).reshape(1, -1)
        ei = self.scores(x, support, prior=False)
        total = self.scores(x, support)
        ei_c = float(self.scores(xc, support, prior=False)[0])
        prior_c = float(self.scores(xc, support)[0]) - ei_c
        prior_term = total - ei
        ok = np.isfinite(support.scores)
        inc = support.x[ok][int(np.argmax(support.scores[ok]))]
        scale = np.sqrt(x.shape[1])
        weights = getattr(self.predictor, "weights", None)
        ROWS.append({
            **CURRENT, "n_ok": support.n_ok, "beta_over_n": self.beta / max(support.n_ok, 1),
            "dist_inc": float(np.linalg.norm(xc[0] - inc) / scale),
            "dist_min": float(np.min(np.linalg.norm(support.x - xc, axis=1)) / scale),
            "ei_spread": _iqr(ei), "prior_spread": _iqr(prior_term),
            "ei_rank": float(np.mean(ei > ei_c)),
            "prior_rank": float(np.mean(prior_term > prior_c)),
            "climbed": not any(c is chosen for c in configs),
            "w_target": float(weights[1]) if weights is not None else float("nan"),
            "trust": float(self.trust),
        })
        return chosen
    return best


def _run(unit: Any) -> list[float]:
    task = benchmark_family(unit.family, unit.warehouse).task(unit.task)
    study, _, objective = unit_search(unit, task)  # the run as compare builds it
    study.optimize(objective, n_trials=unit.budget)
    sign = 1.0 if task.family.direction == "maximize" else -1.0
    return [sign * t.value if t.value is not None else -np.inf for t in study.trials]


def _summary(rows: list[dict[str, Any]]) -> None:
    keys = ("dist_inc", "dist_min", "ei_spread", "prior_spread", "ei_rank", "prior_rank",
            "climbed", "w_target", "trust", "beta_over_n")
    methods = sorted({r["method"] for r in rows})
    for method in methods:
        print(f"\n{method}: medians over (task, seed) by finished trials n")
        print("n  " + " ".join(f"{k:>12}" for k in keys))
        for n in sorted({r["n_ok"] for r in rows if r["method"] == method}):
            sel = [r for r in rows if r["method"] == method and r["n_ok"] == n]
            vals = [np.nanmedian([float(r[k]) for r in sel]) for k in keys]
            print(f"{n:<3}" + " ".join(f"{v:12.3f}" for v in vals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a compare's --out (its model)")
    parser.add_argument("--family", default="synthetic")
    parser.add_argument("--quick", action="store_true", help="compare --quick's split and sizes")
    parser.add_argument("--methods", default="no-pruner,random-acq")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--tasks", default="", help="test tasks (default: the plan's)")
    parser.add_argument("--csv", type=Path, default=Path("trace.csv"))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    acq_module.Acquisition.best = _traced_best(acq_module.Acquisition.best)  # type: ignore
    plan = plan_compare(family=args.family, warehouse=None, out=args.out,
                        methods=args.methods.split(","), seeds=args.seeds, budget=args.budget,
                        test=args.tasks.split(",") if args.tasks else None,
                        n_test=QUICK["n_test"] if args.quick else None,
                        storage=f"journal:{args.out.resolve() / 'trace.journal'}")
    finals = {}
    for unit in plan.units:
        CURRENT.update(method=unit.method, task=unit.task, seed=unit.seed)
        values = _run(unit)
        finals[(unit.method, unit.task, unit.seed)] = values
    _summary(ROWS)
    with args.csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    for key, values in sorted(finals.items()):
        best = np.maximum.accumulate(values)
        print(key, " ".join(f"{v:.3f}" for v in best[::4]))


if __name__ == "__main__":
    main()
