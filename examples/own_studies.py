"""Your own past Optuna studies as metasearch's prior, measured on data sets they never saw.

The past: one Optuna study (plain TPE, no intermediate values) per data set, tuning a
scikit-learn SVC pipeline (scaler, kernel, C, gamma) on scikit-learn's bundled data sets and on
generated ones. The present: new data sets, none of them in any past study. Two ways in:

1. ``MetaSampler.from_studies(storage, names="svc-*")``: learn from the studies, cached.
2. ``metasearch warehouse ingest-optuna`` + ``metasearch meta-train`` (its defaults) +
   ``MetaSampler.from_warehouse(wh.db, family="svc")``.

Each is run on every held-out data set with several seeds next to Optuna's TPE, and the
normalized regret after k trials is reported (median and interquartile range over data sets x
seeds), each data set's best and worst taken from a dense random sample of it plus every trial
run here::

    python examples/own_studies.py --out runs/own_studies          # full size: minutes
    python examples/own_studies.py --out /tmp/own --quick          # the test's size
    python examples/own_studies.py --out /tmp/hgb --model hgb      # another model's studies

``--fixed-warmstart`` plays the whole portfolio (``handover=False``) instead of letting each
study's own trials end it early, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

from metasearch import MetaSampler

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
KS = (1, 3, 5, 10, 15)


def generated(seed: int, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """A classification data set whose size, difficulty and feature scales vary by seed."""
    rng = np.random.default_rng(seed)
    n_features = int(rng.integers(8, 30))
    x, y = datasets.make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=max(2, n_features // 3),
        n_redundant=n_features // 4, flip_y=0.03, class_sep=float(rng.uniform(0.6, 1.4)),
        random_state=seed)
    return x * rng.uniform(0.5, 20.0, n_features) + rng.uniform(-5, 5, n_features), y


def data_sets(quick: bool) -> tuple[dict[str, Callable[[], Any]], dict[str, Callable[[], Any]]]:
    """(past, held out) data sets by name; no data set is in both."""
    n = 400 if quick else 500
    past: dict[str, Callable[[], Any]] = {
        f"gen-{s}": (lambda s=s: generated(s, n)) for s in range(6 if quick else 8)}
    held: dict[str, Callable[[], Any]] = {
        f"gen-{s}": (lambda s=s: generated(s, n)) for s in range(100, 104 if quick else 103)}
    if not quick:
        past |= {"iris": lambda: datasets.load_iris(return_X_y=True),
                 "wine": lambda: datasets.load_wine(return_X_y=True)}
        held |= {"breast_cancer": lambda: datasets.load_breast_cancer(return_X_y=True),
                 "digits": lambda: datasets.load_digits(return_X_y=True)}
    return past, held


def svc(trial: optuna.Trial, x: np.ndarray, y: np.ndarray, x_valid: np.ndarray,
        y_valid: np.ndarray) -> float:
    """Validation accuracy of a scaler + SVC pipeline (4 parameters, two categorical)."""
    scaler = trial.suggest_categorical("scaler", ["standard", "minmax", "none"])
    c = trial.suggest_float("C", 1e-3, 1e3, log=True)
    gamma = trial.suggest_float("gamma", 1e-4, 1e1, log=True)
    kernel = trial.suggest_categorical("kernel", ["rbf", "sigmoid"])
    if scaler != "none":
        fitted = {"standard": StandardScaler, "minmax": MinMaxScaler}[scaler]().fit(x)
        x, x_valid = fitted.transform(x), fitted.transform(x_valid)
    return float(SVC(C=c, gamma=gamma, kernel=kernel).fit(x, y).score(x_valid, y_valid))


def hgb(trial: optuna.Trial, x: np.ndarray, y: np.ndarray, x_valid: np.ndarray,
        y_valid: np.ndarray) -> float:
    """Validation accuracy of gradient-boosted trees (5 numeric parameters, 50 rounds)."""
    model = HistGradientBoostingClassifier(
        learning_rate=trial.suggest_float("learning_rate", 1e-3, 1.0, log=True),
        max_leaf_nodes=trial.suggest_int("max_leaf_nodes", 4, 128, log=True),
        min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 64, log=True),
        l2_regularization=trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True),
        max_features=trial.suggest_float("max_features", 0.1, 1.0),
        max_iter=50, random_state=0)
    return float(model.fit(x, y).score(x_valid, y_valid))


MODELS = {"svc": svc, "hgb": hgb}
"""The models the example can tune; each past study and family is named after its model."""


def objective(load: Callable[[], Any], model: str = "svc") -> Callable[[optuna.Trial], float]:
    """Validation accuracy of ``model`` (a key of MODELS) on a fixed half of the data set."""
    x, y = load()
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, test_size=0.5, random_state=0,
                                                          stratify=y)

    def evaluate(trial: optuna.Trial) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return MODELS[model](trial, x_train, y_train, x_valid, y_valid)

    return evaluate


def run_past_studies(storage: str, past: dict[str, Callable[[], Any]], trials: int,
                     model: str = "svc") -> None:
    """One plain TPE study per past data set (resumed up to ``trials`` if it exists)."""
    for i, (name, load) in enumerate(past.items()):
        study = optuna.create_study(storage=storage, study_name=f"{model}-{name}",
                                    direction="maximize", load_if_exists=True,
                                    sampler=optuna.samplers.TPESampler(seed=i))
        todo = trials - len(study.trials)
        if todo > 0:
            study.optimize(objective(load, model), n_trials=todo)


def cli(*args: str) -> None:
    """Run ``metasearch ARGS`` as a user would type it (in this process), echoing it."""
    from metasearch.cli import app

    print("$ metasearch " + " ".join(args), flush=True)
    app([*args], standalone_mode=False)


def warehouse_path(storage: str, warehouse: Path, model: str = "svc") -> None:
    """``ingest-optuna`` every past study into family ``model``, then ``meta-train`` it."""
    cli("warehouse", "ingest-optuna", storage, "--study", f"{model}-*", "--family", model,
        "-w", str(warehouse))
    cli("meta-train", "--family", model, "-w", str(warehouse))


def incumbents(study: optuna.Study) -> list[float]:
    """The best value after each trial."""
    values = [t.value if t.value is not None else -np.inf for t in study.trials]
    return list(np.maximum.accumulate(values))


def search(make: Callable[[int], optuna.samplers.BaseSampler], evaluate: Any, seed: int,
           n_trials: int) -> list[float]:
    study = optuna.create_study(direction="maximize", sampler=make(seed))
    study.optimize(evaluate, n_trials=n_trials)
    return incumbents(study)


def evaluate_held_out(methods: dict[str, Callable[[int], optuna.samplers.BaseSampler]],
                      held: dict[str, Callable[[], Any]], seeds: Sequence[int],
                      dense: int, model: str = "svc") -> dict[str, dict[int, list[float]]]:
    """Normalized regret after each k of ``KS`` per method, over data sets x seeds."""
    regret: dict[str, dict[int, list[float]]] = {m: {k: [] for k in KS} for m in methods}
    for name, load in held.items():
        evaluate = objective(load, model)
        sample = optuna.create_study(direction="maximize",
                                     sampler=optuna.samplers.RandomSampler(seed=12345))
        sample.optimize(evaluate, n_trials=dense)
        runs = {m: [search(make, evaluate, s, max(KS)) for s in seeds]
                for m, make in methods.items()}
        values = [t.value for t in sample.trials] + [v for r in runs.values() for c in r
                                                     for v in c]
        best, worst = max(values), min(values)
        for method, curves in runs.items():
            for curve in curves:
                for k in KS:
                    regret[method][k].append((best - curve[k - 1]) / (best - worst))
        print(f"  {name}: best {best:.4f}, worst {worst:.4f}", flush=True)
    return regret


def summary(regret: dict[str, dict[int, list[float]]]) -> dict[str, dict[int, list[float]]]:
    """Per method and k: [25th percentile, median, 75th percentile]."""
    return {m: {k: [float(q) for q in np.percentile(v, [25, 50, 75])] for k, v in by_k.items()}
            for m, by_k in regret.items()}


def print_table(table: dict[str, dict[int, list[float]]]) -> None:
    print("\nnormalized regret after k trials: median [IQR] over held-out data sets x seeds")
    print("| method | " + " | ".join(f"k={k}" for k in KS) + " |")
    print("|---" * (len(KS) + 1) + "|")
    for method, by_k in table.items():
        cells = [f"{q[1]:.3f} [{q[0]:.3f}-{q[2]:.3f}]" for q in by_k.values()]
        print(f"| {method} | " + " | ".join(cells) + " |")
    tpe = table["tpe"][max(KS)][1]
    for method in (m for m in table if m != "tpe"):
        at_5 = table[method][5][1]
        verdict = "met" if at_5 <= tpe else "not met"
        print(f"{method}: median after 5 trials {at_5:.3f}, TPE's after {max(KS)} {tpe:.3f}: "
              f"{verdict}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for studies and models")
    parser.add_argument("--quick", action="store_true", help="the test's size (a minute)")
    parser.add_argument("--trials", type=int, help="trials per past study (40; quick 30)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per held-out data set")
    parser.add_argument("--warmstart", type=int, default=5,
                        help="portfolio trials at most (n_warmstart)")
    parser.add_argument("--fixed-warmstart", action="store_true",
                        help="always play all --warmstart portfolio trials (handover=False)")
    parser.add_argument("--model", choices=sorted(MODELS), default="svc",
                        help="the scikit-learn model tuned (svc; hgb: gradient boosting)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("METASEARCH_CACHE_DIR", str(args.out / "cache"))
    storage = f"sqlite:///{args.out / 'studies.db'}"
    past, held = data_sets(args.quick)
    start = time.perf_counter()
    run_past_studies(storage, past, args.trials or (30 if args.quick else 40), args.model)
    print(f"{len(past)} past studies in {time.perf_counter() - start:.0f}s", flush=True)
    start = time.perf_counter()
    learned = MetaSampler.from_studies(storage, names=f"{args.model}-*")
    print(f"from_studies: learned in {time.perf_counter() - start:.1f}s", flush=True)
    warehouse = args.out / "wh.db"
    warehouse_path(storage, warehouse, args.model)
    options = {"n_warmstart": args.warmstart, "handover": not args.fixed_warmstart}
    methods: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
        "from_studies": lambda s: MetaSampler(learned.model, seed=s, **options),
        "warehouse": lambda s: MetaSampler.from_warehouse(warehouse, family=args.model, seed=s,
                                                          **options),
        "tpe": lambda s: optuna.samplers.TPESampler(seed=s),
    }
    regret = evaluate_held_out(methods, held, range(args.seeds), 150 if args.quick else 500,
                               args.model)
    table = summary(regret)
    print_table(table)
    result = {"held_out": list(held), "past": list(past), "seeds": args.seeds,
              "warmstart": args.warmstart, "handover": not args.fixed_warmstart,
              "model": args.model,
              "regret": regret, "summary": table}
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
