"""MetaPruner's milliseconds per reported step against the trial's own suggestion, at 10, 100 and
1,000 completed trials; optionally against another checkout's MetaPruner in the same run.

    python benchmarks/pruner_cost.py [--quick] [--json] [--trials 10 100 1000]
                                     [--baseline DIR] [--rounds 2]

Each measurement runs in a fresh process. It builds an in-memory ``synthetic`` study with ``n``
completed trials (uniform configurations of the family's space, each with its whole curve from
the held-out task ``synthetic-02``, as ``TaskObjective`` reports it), then, for each of a few
more configurations, times one MetaSampler suggestion on that study (``ask`` +
``space.suggest``, what the worker does before training the trial) and then ``prune`` at every
step of the configuration's curve (every step, whatever the decision, so that the per-step cost
counts the costly steps where the study's own correction is measured as well as the cheap
ones). Both trials are left RUNNING, so every decision and suggestion sees exactly ``n``
completed trials. Model:
the checkout's shipped ``warehouse/models/synthetic`` (curves of 20 steps; a decision's cost
grows with the completed trials it reads, not with the curve's length).

``--baseline DIR`` times DIR's ``metasearch`` (another checkout, e.g. ``git worktree add``
or ``git archive`` of an older commit) the same way with the same model, in alternation with
this checkout (``--rounds`` of each, the medians pooled), so a load change on a shared machine
affects both alike. The suggestion is timed with this checkout only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "warehouse" / "models" / "synthetic"
TASK = "synthetic-02"
TRIALS = (10, 100, 1000)


def _study(n: int, judged: int, model: Any) -> tuple[Any, list[tuple[dict, list[float]]]]:
    """A study with ``n`` completed trials and MetaPruner; the curves of ``judged`` more."""
    import numpy as np
    import optuna

    from metasearch.families import get_family
    from metasearch.samplers import MetaPruner

    family = get_family("synthetic")
    space, task = family.space, family.task(TASK)
    dists = space.distributions()
    rng = np.random.default_rng(n)
    runs = []
    for i in range(n + judged):
        config = space.sample(rng)
        curve = [float(v) if np.isfinite(v) else 0.0
                 for v in task.evaluate(config, device="cpu", seed=i).curve]
        runs.append((space.flatten(config), curve))
    study = optuna.create_study(direction="maximize",
                                pruner=MetaPruner(model, task_features=task.meta_features))
    study.add_trials([optuna.trial.create_trial(
        params=flat, distributions={k: dists[k] for k in flat}, value=curve[-1],
        intermediate_values=dict(enumerate(curve))) for flat, curve in runs[:n]])
    return study, runs[n:]


def measure(n: int, judged: int, suggest: bool, model_dir: Path) -> dict[str, Any]:
    """Seconds of every ``prune`` call (and of each suggestion when ``suggest``)."""
    import optuna

    from metasearch.families import get_family
    from metasearch.metamodel import MetaModel
    from metasearch.samplers import MetaSampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    space = get_family("synthetic").space
    model = MetaModel.load(model_dir, space)
    study, runs = _study(n, judged, model)
    meta = MetaSampler(model, seed=0) if suggest else None
    uniform = optuna.samplers.RandomSampler(seed=0)
    steps, suggestions, pruned = [], [], 0
    for flat, curve in runs:
        if meta is not None:
            study.sampler = meta
            start = time.perf_counter()
            space.suggest(study.ask())
            suggestions.append(time.perf_counter() - start)
        study.sampler = uniform  # the judged trial's parameters come from the queue
        trial = _enqueued(study, flat)
        for step, value in enumerate(curve[:-1]):
            trial.report(value, step)
            frozen = study._storage.get_trial(trial._trial_id)
            start = time.perf_counter()
            pruned += bool(study.pruner.prune(study, frozen))
            steps.append(time.perf_counter() - start)
    return {"steps": steps, "suggestions": suggestions, "pruned": pruned}


def _enqueued(study: Any, flat: dict[str, Any]) -> Any:
    """A running trial with the parameters ``flat`` (through the queue, as a user's would)."""
    from metasearch.families import get_family

    study.enqueue_trial(flat)
    trial = study.ask()
    get_family("synthetic").space.suggest(trial)
    return trial


def _child(root: Path, n: int, judged: int, suggest: bool, model: Path) -> dict[str, Any]:
    """:func:`measure` in a fresh process importing ``root``'s metasearch."""
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]);"
            "import pruner_cost, metasearch; from pathlib import Path;"
            "r = pruner_cost.measure(int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == '1',"
            " Path(sys.argv[6])); r['metasearch'] = metasearch.__file__; print(json.dumps(r))")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", code, str(root), str(ROOT / "benchmarks"),
                           str(n), str(judged), "1" if suggest else "0", str(model)],
                          capture_output=True, text=True, env=env, check=True)
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(got["metasearch"]).is_relative_to(root):
        raise RuntimeError(f"{root} was to be timed, but {got['metasearch']} was imported")
    return got


def run(trial_counts: tuple[int, ...], quick: bool, baseline: Path | None, rounds: int,
        model: Path) -> list[dict[str, Any]]:
    """One record per trial count: per-step seconds (this checkout, the baseline) and the
    suggestion's, pooled over ``rounds`` alternating runs."""
    import numpy as np

    records = []
    for n in trial_counts:
        judged = 2 if quick or n >= 1000 else 4
        pooled: dict[str, dict[str, list[float]]] = {"this": {}, "baseline": {}}
        for _ in range(rounds):
            for side, root in (("this", ROOT), ("baseline", baseline)):
                if root is None:
                    continue
                print(f"n={n} {side} ({root})", file=sys.stderr)
                got = _child(root, n, judged, side == "this", model)
                for key in ("steps", "suggestions"):
                    pooled[side].setdefault(key, []).extend(got[key])
        rec: dict[str, Any] = {"trials": n, "judged": judged * rounds}
        for side, times in pooled.items():
            if times:
                steps = np.asarray(times["steps"])
                rec[side] = {"step_ms": float(np.median(steps) * 1e3),
                             "step_p95_ms": float(np.percentile(steps, 95) * 1e3),
                             "steps": len(steps)}
        rec["suggestion_ms"] = float(np.median(pooled["this"]["suggestions"]) * 1e3)
        records.append(rec)
    return records


def rows_of(records: list[dict[str, Any]]) -> list[dict[str, object]]:
    """The run_all protocol's rows: per-step cost over the suggestion's, per trial count."""
    out: list[dict[str, object]] = []
    for rec in records:
        step, suggestion = rec["this"]["step_ms"], rec["suggestion_ms"]
        out.append({"path": f"MetaPruner ms per reported step, {rec['trials']} completed",
                    "baseline": "one MetaSampler suggestion on the same study",
                    "ratio": step / suggestion,
                    "detail": f"{step:.2f} ms per step (p95 {rec['this']['step_p95_ms']:.2f}), "
                              f"suggestion {suggestion:.1f} ms, OMP_NUM_THREADS=1"})
    return out


def run_all_rows(quick: bool) -> list[dict[str, object]]:
    """Rows for ``benchmarks/run_all`` (see the README): one per trial count."""
    return rows_of(run(TRIALS, quick, None, 1, MODEL))


def table(records: list[dict[str, Any]]) -> str:
    head = ("| completed trials | ms per step, this checkout (median / p95) | baseline | "
            "speed-up | suggestion ms | a trial's 19 steps / its suggestion |")
    lines = [head, "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for rec in records:
        this, base = rec["this"], rec.get("baseline")
        base_cell = f"{base['step_ms']:.2f} / {base['step_p95_ms']:.2f}" if base else "-"
        speed = f"{base['step_ms'] / this['step_ms']:.1f}x" if base else "-"
        lines.append(f"| {rec['trials']} | {this['step_ms']:.2f} / {this['step_p95_ms']:.2f} "
                     f"| {base_cell} | {speed} | {rec['suggestion_ms']:.1f} | "
                     f"{19 * this['step_ms'] / rec['suggestion_ms']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 judged trials per count")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--trials", type=int, nargs="+", default=list(TRIALS))
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout whose MetaPruner is timed alongside")
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs of each side")
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    records = run(tuple(args.trials), args.quick, args.baseline, args.rounds, args.model)
    if args.json:
        print(json.dumps({"records": records, "load": os.getloadavg()}, indent=2))
        return
    print(f"MetaPruner per reported step (19 per trial) against the trial's suggestion; "
          f"load average {os.getloadavg()[0]:.2f}; baseline {args.baseline or '-'}")
    print(table(records))


if __name__ == "__main__":
    main()
