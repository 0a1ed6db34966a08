"""MetaPruner's decisions replayed on finished searches: what it would stop, and what it costs.

    python benchmarks/pruner_replay.py OUT --model MODEL [--methods no-pruner,tpe]
        [--settings "confidence=0.95" ...] [--json]

``OUT`` is a ``metasearch compare`` output folder; its journal holds runs searched without a
pruner (``no-pruner``, ``tpe``, ``gp``...), so every trial's whole curve is known. Each run is
replayed trial by trial in its order: at every reported step the pruner (built from ``MODEL``
with each ``--settings`` variant) sees an Optuna study holding the earlier trials as they would
stand had it been acting all along (the ones it stopped as PRUNED at the step it stopped them,
the rest COMPLETE), and decides. The trial order is the sampler's, who never saw the pruner, so
this isolates the pruner's decisions from what the sampler would have done with them.

Per variant it prints the share of trials pruned, the share of epochs saved, the false prunes
(a pruned trial whose final value beat the incumbent at the time it was stopped), and the
normalized regret of the final incumbent with the pruner minus without it (the same
sequence), at 10, 25 and the end: the cost of each wrong stop, in the units ``compare``
reports. ``MODEL`` must hold the runs' tasks out (it is the model compare used).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

BUDGETS = (10, 25)


@dataclass(frozen=True)
class Run:
    """One finished run of a compare: task, method, seed and its trials in order."""

    task: str
    method: str
    seed: int
    trials: list[FrozenTrial]


def load_runs(out: str, methods: Sequence[str]) -> list[Run]:
    """The compare runs of ``methods`` in ``out``'s journal (claims skipped)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(f"{out}/studies.journal"))
    runs = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        parts = summary.study_name.split("/")
        if len(parts) != 5 or parts[0] != "compare" or parts[3] not in methods \
                or "#" in parts[4]:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = [t for t in study.get_trials(deepcopy=False)
                  if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
        if not trials:
            continue
        runs.append(Run(parts[2], parts[3], int(parts[4].split("=")[1]), trials))
    return sorted(runs, key=lambda r: (r.task, r.method, r.seed))


def _settings(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key] = int(value) if value.lstrip("-").isdigit() else float(value)
    return out


def replay(run: Run, pruner: optuna.pruners.BasePruner, direction: str, width: int
           ) -> dict[str, Any]:
    """The run's trials with ``pruner`` acting: per trial its state, steps and final value."""
    study = optuna.create_study(direction=direction)
    sign = 1.0 if direction == "maximize" else -1.0
    out = []
    for trial in run.trials:
        steps = sorted(trial.intermediate_values)
        values = [trial.intermediate_values[s] for s in steps]
        stopped = None
        best = max((sign * t.value for t in study.get_trials(states=(TrialState.COMPLETE,))),
                   default=-np.inf)
        if trial.state == TrialState.COMPLETE:
            for k in range(1, min(len(steps), width)):
                shown = optuna.trial.create_trial(
                    state=TrialState.RUNNING, params=trial.params,
                    distributions=trial.distributions,
                    intermediate_values=dict(zip(steps[:k], values[:k], strict=True)))
                if pruner.prune(study, shown):
                    stopped = k
                    break
        final = trial.value if trial.state == TrialState.COMPLETE else None
        if stopped is not None:
            study.add_trial(optuna.trial.create_trial(
                state=TrialState.PRUNED, params=trial.params, distributions=trial.distributions,
                intermediate_values=dict(zip(steps[:stopped], values[:stopped], strict=True))))
        else:
            study.add_trial(trial)
        out.append({"final": final, "stopped": stopped, "epochs": len(steps),
                    "false": stopped is not None and final is not None
                    and sign * final > best})
    return {"trials": out}


def incumbents(finals: list[float | None], sign: float) -> np.ndarray:
    """Best (signed) value after each trial; -inf before the first."""
    best, out = -np.inf, []
    for value in finals:
        if value is not None and np.isfinite(value):
            best = max(best, sign * value)
        out.append(best)
    return np.asarray(out)


def summarise(runs: list[Run], replays: list[dict[str, Any]], direction: str
              ) -> dict[str, float]:
    """Pruned share, epochs saved, false prunes and regret added at 10, 25 and the end."""
    sign = 1.0 if direction == "maximize" else -1.0
    bounds: dict[str, tuple[float, float]] = {}
    for run in runs:
        vals = [sign * t.value for t in run.trials if t.state == TrialState.COMPLETE]
        lo, hi = bounds.get(run.task, (np.inf, -np.inf))
        bounds[run.task] = (min(lo, min(vals)), max(hi, max(vals)))
    pruned = total = saved = epochs = false = 0
    added: dict[str, list[float]] = {str(b): [] for b in (*BUDGETS, "end")}
    for run, rep in zip(runs, replays, strict=True):
        lo, hi = bounds[run.task]
        trials = rep["trials"]
        full = incumbents([t["final"] for t in trials], 1.0 if sign > 0 else -1.0)
        cut = incumbents([None if t["stopped"] else t["final"] for t in trials],
                         1.0 if sign > 0 else -1.0)
        gap = (full - np.where(np.isfinite(cut), cut, lo)) / max(hi - lo, 1e-12)
        for b in BUDGETS:
            if len(gap) >= b:
                added[str(b)].append(float(gap[b - 1]))
        added["end"].append(float(gap[-1]))
        for t in trials:
            total += 1
            epochs += t["epochs"]
            if t["stopped"]:
                pruned += 1
                saved += t["epochs"] - t["stopped"]
                false += int(t["false"])
    out = {"runs": len(runs), "pruned": pruned / max(total, 1),
           "epochs_saved": saved / max(epochs, 1), "false_prunes": false,
           "false_per_run": false / max(len(runs), 1)}
    for key, gaps in added.items():
        out[f"regret_added@{key}_mean"] = float(np.mean(gaps)) if gaps else float("nan")
        out[f"regret_added@{key}_max"] = float(np.max(gaps)) if gaps else float("nan")
        out[f"runs_worse@{key}"] = int(np.sum(np.asarray(gaps) > 1e-12))
    return out


def main() -> None:
    from metasearch.families import get_family
    from metasearch.metamodel import MetaModel
    from metasearch.samplers import MetaPruner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="a compare output folder")
    parser.add_argument("--model", required=True, help="the model folder compare used")
    parser.add_argument("--family", default=None, help="default: read from the journal")
    parser.add_argument("--methods", default="no-pruner,tpe")
    parser.add_argument("--settings", nargs="+", default=[""],
                        help="MetaPruner keyword variants, e.g. 'confidence=0.99'")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of tasks")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    runs = load_runs(args.out, args.methods.split(","))
    if args.tasks:
        runs = [r for r in runs if r.task in args.tasks.split(",")]
    if not runs:
        raise SystemExit(f"no finished runs of {args.methods} in {args.out}")
    model = MetaModel.load(args.model)
    family = get_family(args.family or model.family)
    results = []
    for text in args.settings:
        start = time.perf_counter()
        replays = []
        for run in runs:
            features = dict(family.task(run.task).meta_features) or None
            pruner = MetaPruner(model, task_features=features, **_settings(text))
            replays.append(replay(run, pruner, family.direction, model.max_budget))
        row = {"settings": text or "(defaults)", **summarise(runs, replays, family.direction),
               "seconds": time.perf_counter() - start}
        results.append(row)
        if not args.json:
            print(" | ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in row.items()), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
