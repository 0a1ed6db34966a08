"""Record MetaSampler's proposals and MetaPruner's decisions of a checkout, to show that a speed-up
changed no output: record before and after, then compare.

    python benchmarks/record_outputs.py record DIR OUT.json [--trials 25] [--pruned 40]
    python benchmarks/record_outputs.py compare BEFORE.json AFTER.json

``record`` imports DIR's ``metasearch`` (a checkout: ``git worktree add`` or ``git archive``
of the commit before the change) in this process, with the shipped ``synthetic`` model of the
checkout this script lies in (``--model`` for another), so both sides use one model. It
records, as exact ``repr``s:

- the parameters MetaSampler proposes in four seeded searches (two tasks x two seeds,
  ``--trials`` each) and three suggestions on studies pre-filled with 120 and 260 trials;
- MetaPruner's decision and probability at every reported step of four seeded random searches
  (two held-out tasks, maximised and minimised, ``--pruned`` trials each, the decisions fed
  back), their trials' states, and every step of 6 trials judged in a study of 80 completed
  trials (past the 50-trial calibration window).

``compare`` prints how many values agree and names the keys that differ (exit 1 if any).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = HERE.parent / "warehouse" / "models" / "synthetic"


def _proposals(model: Any, trials: int) -> dict[str, Any]:
    import optuna

    from metasearch.families import get_family
    from metasearch.samplers import MetaSampler

    family = get_family("synthetic")
    space = family.space
    out: dict[str, Any] = {}
    for task_id in ("synthetic-02", "synthetic-05"):
        value = family.task(task_id).final_value  # type: ignore[attr-defined]

        def objective(trial: optuna.Trial, value: Any = value) -> float:
            return float(value(space.suggest(trial)))

        for seed in (0, 1):
            study = optuna.create_study(direction="maximize", sampler=MetaSampler(model,
                                                                                  seed=seed))
            study.optimize(objective, n_trials=trials)
            out[f"run/{task_id}/{seed}"] = [repr(t.params) for t in study.trials]
    sys.path.insert(0, str(HERE))
    import suggestion_time

    for n in (120, 260):
        study = optuna.create_study(direction="maximize", sampler=MetaSampler(model, seed=3))
        study.add_trials(suggestion_time.finished_trials(n, n))
        for _ in range(3):
            space.suggest(study.ask())
        out[f"prefilled/{n}"] = [repr(t.params) for t in study.trials[n:]]
    return out


def _pruned_search(model: Any, task_id: str, seed: int, sign: float, trials: int
                   ) -> dict[str, Any]:
    """A random search pruned by MetaPruner (values times ``sign``): every step's decision."""
    import math

    import optuna

    from metasearch.families import get_family
    from metasearch.samplers import MetaPruner, make_sampler

    family = get_family("synthetic")
    task = family.task(task_id)
    pruner = MetaPruner(model, task_features=task.meta_features)
    log: list[Any] = []

    def objective(trial: optuna.Trial) -> float:
        curve = task.evaluate(family.space.suggest(trial), device="cpu",
                              seed=seed + trial.number).curve
        for step, value in enumerate(curve):
            trial.report(sign * value, step)
            frozen = trial.study._storage.get_trial(trial._trial_id)
            decision = pruner.prune(trial.study, frozen)
            log.append([trial.number, step, decision,
                        repr(pruner.probability_better(trial.study, frozen))])
            if decision:
                raise optuna.TrialPruned()
        return sign * curve[-1] if math.isfinite(curve[-1]) else math.nan

    study = optuna.create_study(direction="maximize" if sign > 0 else "minimize",
                                sampler=make_sampler("random", seed))
    study.optimize(objective, n_trials=trials)
    return {"decisions": log, "states": [str(t.state) for t in study.trials]}


def _past_the_window(model: Any) -> dict[str, Any]:
    """Every step of 6 trials judged in a study of 80 completed trials."""
    import numpy as np
    import optuna

    from metasearch.families import get_family
    from metasearch.samplers import MetaPruner

    family = get_family("synthetic")
    space, task = family.space, family.task("synthetic-32")
    dists = space.distributions()
    rng = np.random.default_rng(7)
    pruner = MetaPruner(model, task_features=task.meta_features)
    study = optuna.create_study(direction="maximize")
    out: dict[str, Any] = {}
    for i in range(86):
        config = space.sample(rng)
        flat = space.flatten(config)
        curve = [v if np.isfinite(v) else 0.0
                 for v in task.evaluate(config, device="cpu", seed=i).curve]
        if i < 80:
            study.add_trial(optuna.trial.create_trial(
                params=flat, distributions={k: dists[k] for k in flat}, value=curve[-1],
                intermediate_values=dict(enumerate(curve))))
            continue
        study.enqueue_trial(flat)
        trial = study.ask()
        space.suggest(trial)
        steps = []
        for step, value in enumerate(curve[:-1]):
            trial.report(value, step)
            frozen = study._storage.get_trial(trial._trial_id)
            steps.append([pruner.prune(study, frozen),
                          repr(pruner.probability_better(study, frozen))])
        study.tell(trial, curve[-1])
        out[f"window/{i}"] = steps
    return out


def record(root: Path, trials: int, pruned: int, model_dir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(root))
    import optuna

    import metasearch
    from metasearch.families import get_family
    from metasearch.metamodel import MetaModel

    if not Path(metasearch.__file__).is_relative_to(root):
        raise RuntimeError(f"{root} was to be recorded, but {metasearch.__file__} was imported")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    model = MetaModel.load(model_dir, get_family("synthetic").space)
    out = _proposals(model, trials)
    for task_id in ("synthetic-30", "synthetic-31"):
        for seed, sign in ((0, 1.0), (1, -1.0)):
            out[f"pruned/{task_id}/{seed}"] = _pruned_search(model, task_id, seed, sign, pruned)
    out.update(_past_the_window(model))
    return out


def _count(value: Any) -> int:
    """Recorded values in ``value``: one per proposal, decision or state."""
    if isinstance(value, dict):
        return sum(_count(v) for v in value.values())
    return len(value) if isinstance(value, list) else 1


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Keys whose recorded values differ (or that one side lacks)."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("root", type=Path)
    rec.add_argument("out", type=Path)
    rec.add_argument("--trials", type=int, default=25)
    rec.add_argument("--pruned", type=int, default=40)
    rec.add_argument("--model", type=Path, default=MODEL)
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        result = record(args.root.resolve(), args.trials, args.pruned, args.model)
        args.out.write_text(json.dumps(result, indent=0))
        print(f"{len(result)} keys recorded from {args.root}")
        return
    before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
    differ = compare(before, after)
    print(f"{len(before.keys() & after.keys()) - len(differ)} of "
          f"{len(before.keys() | after.keys())} keys identical ({_count(before)} values "
          f"before, {_count(after)} after); differ: {differ or 'none'}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
