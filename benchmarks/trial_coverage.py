"""Where a comparison's searches put their trials: near-copies and the corners they visit.

Issue #13's seventh pass asked why ``metasearch`` trails ``gp`` late on some
``yahpo-lcbench`` tasks. Two counts over a finished ``compare``'s studies answer part of it:

* ``near copies``: the share of trials whose encoding (each parameter on its unit, log where
  the parameter is log-scaled, scale; categoricals one-hot) lies within ``--resolution`` of an
  earlier trial of the same study on every coordinate: trials that refine the incumbent below
  that resolution or repeat it;
* ``bound patterns``: per study, the number of distinct patterns of which numeric parameters
  sit at their lower bound, their upper bound or inside, over the trials after the first
  ``--skip``: how many corners of the space the search visits;
* ``best at edges``: per study, how many numeric parameters of its best trial lie within
  ``--edge`` of a bound (on the unit, log where log-scaled, scale), and with ``-w`` the best
  trial's value against the best the warehouse stores for the task (its uniform draws, on a
  surrogate family): a surrogate extrapolates at its space's corners, and a search that ends
  there, far above every stored draw, found the surrogate's artifact rather than a
  configuration anyone measured ("The surrogate's corners" in
  docs/issue-13-passes.md).

::

    python benchmarks/trial_coverage.py COMPARE_OUT --methods metasearch,gp [-w lc.db]

reads ``COMPARE_OUT/studies.journal`` and the model in ``COMPARE_OUT/models/shared`` (its
space encodes the trials; ``--model`` for another).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial

from metasearch.metamodel import MetaModel
from metasearch.samplers._meta_support import encode_flat
from metasearch.warehouse import Warehouse


def near_copies(encodings: list[np.ndarray], resolution: float) -> int:
    """How many encodings lie within ``resolution`` of an earlier one on every coordinate."""
    if not encodings:
        return 0
    rows = np.stack(encodings)
    return sum(bool((np.abs(rows[:i] - rows[i]).max(axis=1) < resolution).any())
               for i in range(1, len(rows)))


def bound_pattern(trial: FrozenTrial) -> tuple[str, ...]:
    """For each numeric parameter (sorted by name): ``L``ow bound, ``H``igh bound or ``i``nside."""
    out = []
    for name in sorted(trial.params):
        dist, value = trial.distributions[name], trial.params[name]
        if isinstance(dist, (FloatDistribution, IntDistribution)):
            out.append("L" if value == dist.low else "H" if value == dist.high else "i")
    return tuple(out)


def at_edges(trial: FrozenTrial, edge: float) -> int:
    """How many numeric parameters of ``trial`` lie within ``edge`` of a bound (unit scale)."""
    count = 0
    for name, value in trial.params.items():
        dist = trial.distributions[name]
        if isinstance(dist, (FloatDistribution, IntDistribution)) and dist.high > dist.low:
            scale = np.log if dist.log else float
            unit = (scale(value) - scale(dist.low)) / (scale(dist.high) - scale(dist.low))
            count += bool(unit < edge or unit > 1.0 - edge)
    return count


def stored_best(warehouse: str, family: str, sign: float) -> dict[str, float]:
    """The best stored final value of each task of ``family`` (``sign`` 1: maximized)."""
    best: dict[str, float] = {}
    for record in Warehouse.open(warehouse).trial_records(family):
        if record.final_value is not None and np.isfinite(record.final_value):
            value = sign * record.final_value
            best[record.task] = max(best.get(record.task, -np.inf), value)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="a compare's --out")
    parser.add_argument("--model", type=Path, help="default: OUT/models/shared")
    parser.add_argument("--methods", default="metasearch,gp")
    parser.add_argument("--resolution", type=float, default=1.0 / 256.0)
    parser.add_argument("--skip", type=int, default=10, help="first trials left out of patterns")
    parser.add_argument("--edge", type=float, default=0.02,
                        help="unit-scale distance to a bound that counts as at it")
    parser.add_argument("-w", "--warehouse", help="the comparison's warehouse: best trials "
                        "against the best stored value of their task")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = MetaModel.load(args.model or args.out / "models" / "shared").space
    storage = JournalStorage(JournalFileBackend(str(args.out / "studies.journal")))
    trials: dict[str, int] = defaultdict(int)
    copies: dict[str, int] = defaultdict(int)
    patterns: dict[str, list[int]] = defaultdict(list)
    edges: dict[str, list[int]] = defaultdict(list)
    excess: dict[str, list[float]] = defaultdict(list)
    references: dict[str, float] | None = None
    numeric = sum(isinstance(d, (FloatDistribution, IntDistribution))
                  for d in space.distributions().values())
    for summary in optuna.get_all_study_summaries(storage):
        parts = summary.study_name.split("/")
        method = next((m for m in args.methods.split(",") if m in parts), None)
        if method is None or not summary.n_trials:  # compare's "#claim" studies hold none
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        encodings = [x for x in (encode_flat(space, t.params) for t in study.trials)
                     if x is not None]
        trials[method] += len(encodings)
        copies[method] += near_copies(encodings, args.resolution)
        patterns[method].append(len({bound_pattern(t) for t in study.trials[args.skip:]}))
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not done:
            continue
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        best = max(done, key=lambda t: sign * float(t.value))  # type: ignore[arg-type]
        edges[method].append(at_edges(best, args.edge))
        if args.warehouse:
            if references is None:
                references = stored_best(args.warehouse, parts[1], sign)
            if parts[2] in references:
                excess[method].append(sign * float(best.value) - references[parts[2]])  # type: ignore[arg-type]
    for method in args.methods.split(","):
        if not trials[method]:
            print(f"{method}: no studies")
            continue
        counts = patterns[method]
        print(f"{method}: {copies[method]} of {trials[method]} trials "
              f"({copies[method] / trials[method]:.1%}) within {args.resolution:.4g} of an "
              f"earlier one; distinct bound patterns after trial {args.skip}: median "
              f"{np.median(counts):.0f} (range {min(counts)}-{max(counts)}) over "
              f"{len(counts)} studies")
        if edges[method]:
            at = np.asarray(edges[method])
            line = (f"  best trials: median {np.median(at):.0f} of {numeric} numeric parameters "
                    f"within {args.edge:g} of a bound; {np.mean(at >= numeric / 2):.0%} of "
                    f"{len(at)} with at least half of them there")
            if excess[method]:
                gain = np.asarray(excess[method])
                line += (f"; above the best stored value of their task in {np.mean(gain > 0):.0%}"
                         f" (median by {np.median(gain):.3g})")
            print(line)


if __name__ == "__main__":
    main()
