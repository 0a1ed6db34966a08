"""Few-shot metrics of a batch comparison, computed from the per-trial ``runs`` table.

Every function is pure: it takes the ``runs`` DataFrame (one row per trial of every
(task, method, seed) run, see :data:`RUN_COLUMNS`) and returns plain DataFrames or dicts, so the
report can be recomputed from ``runs.csv`` alone. The protocol follows HPO-B (Pineda Arango et
al., 2021, "HPO-B: A Large-Scale Reproducible Benchmark for Black-Box HPO based on OpenML"):
per-task normalized regret of the incumbent, averaged over (task, seed) pairs, with bootstrap
intervals, average ranks and paired Wilcoxon signed-rank tests.

Conventions, fixed here once for every metric:

* **Regret** is ``(best - incumbent) / (best - worst)`` (mirrored for minimization) with the
  best and worst known value of the task; it is clipped to ``[0, 1]``. Clipping only acts when
  the bounds come from outside the table (the warehouse) and a run beats the best known (regret
  0, not negative) or an incumbent is worse than the worst known (regret 1): a stale bound must
  not let one task outweigh the others. :func:`task_bounds` merges the warehouse's bounds with
  the table's own values, so with it clipping never changes a value.
* **Before the first complete trial** the incumbent is NaN and the regret is 1.0 (nothing found
  is as bad as the worst known). Failed and pruned trials never improve the incumbent.
* **Short runs**: a run with fewer than ``k`` trials (it crashed, or timed out) keeps its last
  incumbent's regret at ``k``: that is what its user would hold. Values of ``k`` above the budget
  (the longest run in the table) are replaced by the budget rather than extrapolated
  (:func:`effective_ks`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "COST_COLUMNS",
    "DEFAULT_KS",
    "RUN_COLUMNS",
    "add_regret",
    "average_rank",
    "bootstrap_ci",
    "effective_ks",
    "holm",
    "incumbent_curve",
    "normalized_regret",
    "rank_curve",
    "regret_at",
    "regret_curve",
    "regret_matrix",
    "speedup",
    "task_bounds",
    "trials_to_target",
    "validate_runs",
    "wilcoxon_vs",
]

RUN_COLUMNS = ("family", "task", "method", "seed", "trial", "value", "incumbent", "regret",
               "state", "cost_s")
"""Columns every ``runs`` table has (more are allowed): one row per trial, ``trial`` 1-based."""

COST_COLUMNS = ("method", "task", "seed", "meta_train_s", "suggest_s_mean", "trial_s_mean",
                "pruned_epochs_saved")
"""Columns of the ``costs`` table, one row per run. ``meta_train_s`` is the meta-training time
of the model that run used (0 for cold-start baselines); ``pruned_epochs_saved`` counts the
epochs the pruner did not train (0 without one)."""

DEFAULT_KS = (1, 5, 10, 25, 50)
RUN_KEYS = ["method", "task", "seed"]
_DIRECTIONS = ("minimize", "maximize")
_TOL = 1e-9  # float slack when comparing a seed-mean regret with a target made the same way


def validate_runs(runs: pd.DataFrame, columns: Sequence[str] = RUN_COLUMNS) -> None:
    """Raise ``ValueError`` naming the missing columns if ``runs`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise ValueError(f"runs table lacks columns {missing}; it has {list(runs.columns)}")


def _check_direction(direction: str) -> str:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return direction


def incumbent_curve(values: Sequence[float] | np.ndarray, direction: str) -> np.ndarray:
    """Best value so far after each trial, ignoring NaN (failed or pruned) trials.

    Entries before the first finite value are NaN. Non-finite values (a diverged ``inf`` loss)
    count as failed, so they never become the incumbent.
    """
    x = np.asarray(values, dtype=float).copy()
    x[~np.isfinite(x)] = np.nan
    if _check_direction(direction) == "maximize":
        return np.fmax.accumulate(x) if x.size else x
    return np.fmin.accumulate(x) if x.size else x


def normalized_regret(values: Any, best: Any, worst: Any, direction: str) -> np.ndarray:
    """Regret of ``values`` scaled so that ``best`` maps to 0 and ``worst`` to 1, clipped.

    NaN values (no incumbent yet) get regret 1.0. A task whose best and worst coincide has
    regret 0 for every finite value. See the module docstring for why the result is clipped.
    """
    v, b, w = (np.asarray(a, dtype=float) for a in (values, best, worst))
    gap = (b - v) if _check_direction(direction) == "maximize" else (v - b)
    span = np.abs(w - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        regret = np.where(span > 0, gap / np.where(span > 0, span, 1.0), 0.0)
    return np.where(np.isnan(v), 1.0, np.clip(regret, 0.0, 1.0))


def _directions(tasks: pd.Series, direction: str | Mapping[str, str]) -> pd.Series:
    if isinstance(direction, str):
        return pd.Series(_check_direction(direction), index=tasks.index)
    unknown = sorted(set(tasks) - set(direction))
    if unknown:
        raise ValueError(f"no direction given for tasks {unknown}")
    return tasks.map(lambda t: _check_direction(direction[t]))


def _complete_values(runs: pd.DataFrame) -> pd.Series:
    """Values of complete trials (``state`` "complete", any case, as Optuna's ``COMPLETE``);
    NaN for failed, pruned and non-finite ones."""
    v = runs["value"].astype(float)
    return v.where((runs["state"].astype(str).str.lower() == "complete") & np.isfinite(v))


def task_bounds(runs: pd.DataFrame, direction: str | Mapping[str, str],
                known: pd.DataFrame | None = None) -> pd.DataFrame:
    """Best and worst known value per task: the table's complete trials, merged with ``known``.

    Args:
        runs: table with ``task``, ``value`` and ``state``.
        direction: ``"minimize"``/``"maximize"``, or one per task.
        known: optional bounds from the warehouse, indexed by task, columns ``best``/``worst``.

    Returns:
        DataFrame indexed by task with columns ``best``, ``worst`` and ``direction``.
    """
    values = _complete_values(runs)
    grouped = values.groupby(runs["task"])
    out = pd.DataFrame({"lo": grouped.min(), "hi": grouped.max()})
    if known is not None:
        k = known.reindex(out.index)
        out["lo"] = np.fmin(out["lo"], np.fmin(k["best"], k["worst"]))
        out["hi"] = np.fmax(out["hi"], np.fmax(k["best"], k["worst"]))
    out["direction"] = _directions(out.index.to_series(), direction)
    maximize = out["direction"] == "maximize"
    out["best"] = out["hi"].where(maximize, out["lo"])
    out["worst"] = out["lo"].where(maximize, out["hi"])
    return out[["best", "worst", "direction"]]


def add_regret(runs: pd.DataFrame, bounds: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``runs`` with ``incumbent`` and ``regret`` filled in, run by run.

    ``bounds`` is what :func:`task_bounds` returns. Rows are ordered by run and trial. Values
    are sign-flipped for minimization so one running maximum serves both directions.
    """
    validate_runs(runs, ("task", "method", "seed", "trial", "value", "state"))
    missing = sorted(set(runs["task"]) - set(bounds.index))
    if missing:
        raise ValueError(f"no bounds for tasks {missing}")
    out = runs.sort_values([*RUN_KEYS, "trial"]).reset_index(drop=True)
    b = bounds.reindex(out["task"].to_numpy())
    for d in b["direction"].unique():
        _check_direction(str(d))
    sign = np.where(b["direction"].to_numpy() == "maximize", 1.0, -1.0)
    signed = _complete_values(out) * sign
    best = signed.groupby([out[k] for k in RUN_KEYS]).cummax()
    best = best.groupby([out[k] for k in RUN_KEYS]).ffill()
    out["incumbent"] = best * sign
    out["regret"] = normalized_regret(best.to_numpy(), b["best"].to_numpy() * sign,
                                      b["worst"].to_numpy() * sign, "maximize")
    return out


def regret_matrix(runs: pd.DataFrame, budget: int | None = None) -> pd.DataFrame:
    """Incumbent regret per run (rows: method, task, seed) after trials 1..budget (columns).

    A missing trial carries the previous regret forward (a short run keeps its last value);
    before any row the regret is 1.0. ``budget`` defaults to the longest run in the table.
    """
    validate_runs(runs, ("method", "task", "seed", "trial", "regret"))
    if runs.empty:
        raise ValueError("runs table is empty")
    budget = int(runs["trial"].max()) if budget is None else int(budget)
    wide = runs[runs["trial"] <= budget].pivot_table(
        index=RUN_KEYS, columns="trial", values="regret", aggfunc="last")
    wide = wide.reindex(columns=range(1, budget + 1)).ffill(axis=1).fillna(1.0)
    return wide.sort_index()


def effective_ks(ks: Sequence[int], budget: int) -> list[int]:
    """The ``ks`` a table of ``budget`` trials supports: those above the budget are dropped and,
    if any was, the budget itself is added so that the final regret is always reported."""
    keep = {int(k) for k in ks if 1 <= int(k) <= budget}
    if any(int(k) > budget for k in ks):
        keep.add(int(budget))
    return sorted(keep)


def _budget_ks(matrix: pd.DataFrame, ks: Sequence[int]) -> list[int]:
    return effective_ks(ks, int(matrix.columns.max()))


def _boot_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampled row indices; one fresh generator per call so that every method with the same
    (task, seed) pairs gets the same resamples (a paired bootstrap) whatever else is run."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_ci(values: Sequence[float] | np.ndarray,
                 statistic: Callable[..., np.ndarray] = np.mean, *, n_boot: int = 2000,
                 seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (called with ``axis=1``) over ``values``.

    Deterministic for a ``seed``; ``(nan, nan)`` for an empty sample.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    boot = statistic(x[_boot_indices(x.size, n_boot, seed)], axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def regret_at(runs: pd.DataFrame, ks: Sequence[int] = DEFAULT_KS, *, n_boot: int = 2000,
              seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and median regret after ``k`` trials per method, with bootstrap intervals.

    The sample is the method's (task, seed) pairs; the intervals resample those pairs.

    Returns:
        One row per (method, k): ``n, mean, mean_lo, mean_hi, median, median_lo, median_hi``.
    """
    matrix = regret_matrix(runs)
    rows = []
    for method, block in matrix.groupby(level="method"):
        for k in _budget_ks(matrix, ks):
            x = block[k].to_numpy()
            m_lo, m_hi = bootstrap_ci(x, np.mean, n_boot=n_boot, seed=seed,
                                      confidence=confidence)
            d_lo, d_hi = bootstrap_ci(x, np.median, n_boot=n_boot, seed=seed,
                                      confidence=confidence)
            rows.append({"method": method, "k": k, "n": x.size, "mean": float(x.mean()),
                         "mean_lo": m_lo, "mean_hi": m_hi, "median": float(np.median(x)),
                         "median_lo": d_lo, "median_hi": d_hi})
    return pd.DataFrame(rows)


def regret_curve(runs: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0,
                 confidence: float = 0.95) -> pd.DataFrame:
    """Mean regret after every trial per method, with a bootstrap band over (task, seed) pairs.

    Uses the same resamples as :func:`regret_at`, so the band at ``k`` equals its mean interval.

    Returns:
        One row per (method, trial): ``mean, lo, hi, median``.
    """
    matrix = regret_matrix(runs)
    alpha = (1.0 - confidence) / 2.0
    frames = []
    for method, block in matrix.groupby(level="method"):
        m = block.to_numpy()
        n = m.shape[0]
        idx = _boot_indices(n, n_boot, seed)
        flat = (idx + n * np.arange(n_boot)[:, None]).ravel()
        counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n)
        boot = counts @ m / n  # (n_boot, budget) bootstrap means without an n_boot x n x B copy
        lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
        frames.append(pd.DataFrame({"method": method, "trial": block.columns.astype(int),
                                    "mean": m.mean(axis=0), "lo": lo, "hi": hi,
                                    "median": np.median(m, axis=0)}))
    return pd.concat(frames, ignore_index=True)


def rank_curve(runs: pd.DataFrame) -> pd.DataFrame:
    """Average rank (1 = lowest regret, ties averaged) per method after every trial.

    Methods are ranked within each (task, seed) pair; only pairs that every method ran count,
    so a method is never ranked among fewer rivals. Returns columns ``method, trial, rank, n``.
    """
    matrix = regret_matrix(runs)
    cube = matrix.stack().unstack(level="method")  # rows (task, seed, trial), columns method
    cube = cube.dropna()
    if cube.empty:
        raise ValueError("no (task, seed) pair was run by every method; ranks are undefined")
    ranks = pd.DataFrame(stats.rankdata(cube.to_numpy(), axis=1), index=cube.index,
                         columns=cube.columns)
    mean = ranks.groupby(level="trial").mean()
    n = int(ranks.groupby(level="trial").size().iloc[0])
    out = mean.melt(ignore_index=False, var_name="method", value_name="rank").reset_index()
    out["n"] = n
    return out[["method", "trial", "rank", "n"]]


def average_rank(runs: pd.DataFrame, ks: Sequence[int] = DEFAULT_KS) -> pd.DataFrame:
    """Average rank per method after ``k`` trials (see :func:`rank_curve`); columns
    ``method, k, rank, n``."""
    curve = rank_curve(runs)
    keep = _budget_ks(regret_matrix(runs), ks)
    out = curve[curve["trial"].isin(keep)].rename(columns={"trial": "k"})
    return out.sort_values(["method", "k"]).reset_index(drop=True)


def _first_hit(curves: np.ndarray, target: np.ndarray) -> np.ndarray:
    """First 1-based trial whose regret is <= target, row by row; inf where never."""
    hit = curves <= target[:, None] + _TOL
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1.0, np.inf)


def _task_curves(matrix: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean regret curve per (method, task)."""
    return matrix.groupby(level=["method", "task"]).mean()


def trials_to_target(runs: pd.DataFrame, reference: str = "tpe",
                     budget: int | None = None) -> pd.DataFrame:
    """Trials each method needs to reach, on each task, the regret ``reference`` ends with.

    Definition: the target of task ``t`` is the reference's seed-mean regret after ``budget``
    trials. A method's trials-to-target on ``t`` is the first trial at which *its seed-mean
    regret curve* is at or below the target; ``inf`` if it never is within the budget. The
    seed-mean curve is used, not each seed's run, because against a mean target about half of
    the reference's own runs would never reach it, making its median undefined; with the mean
    curve the reference always reaches its target (at the budget at the latest).
    ``runs_reached`` adds the per-run view: the share of the method's seeds whose own run
    reaches the target.

    Returns:
        One row per (method, task): ``target, trials, runs_reached``.
    """
    matrix = regret_matrix(runs, budget)
    methods = matrix.index.get_level_values("method")
    if reference not in set(methods):
        raise ValueError(f"reference method {reference!r} is not in the runs table; "
                         f"methods are {sorted(set(methods))}")
    curves = _task_curves(matrix)
    targets = curves.xs(reference, level="method")[curves.columns[-1]]
    rows = []
    keyed: list[tuple[Any, pd.Series]] = list(curves.iterrows())
    for (method, task), curve in keyed:
        if task not in targets.index:
            continue
        target = float(targets[task])
        runs_mt = matrix.loc[(method, task)].to_numpy()
        hits = _first_hit(runs_mt, np.full(runs_mt.shape[0], target))
        trials = _first_hit(curve.to_numpy()[None, :], np.array([target]))[0]
        rows.append({"method": method, "task": task, "target": target,
                     "trials": float(trials), "runs_reached": float(np.isfinite(hits).mean())})
    return pd.DataFrame(rows)


def speedup(runs: pd.DataFrame, baselines: Sequence[str],
            budget: int | None = None) -> dict[str, dict[str, float | None]]:
    """Speed-up of every method against every baseline, ``out[method][baseline]``.

    Definition: for each baseline ``b`` and task ``t``, the target is ``b``'s own seed-mean
    final regret (see :func:`trials_to_target` with ``reference=b``). The per-task speed-up is
    ``T_b(t) / T_m(t)``: the trials ``b`` needs to reach its own final regret (at most the
    budget; less if it plateaued) over the trials ``m`` needs to reach it. It is 0 on a task
    where ``m`` never reaches it. The result is the median over tasks of the per-task ratios,
    so a baseline against itself is exactly 1 and one easy task cannot dominate.

    None where that median is 0: ``m`` never reached the target on more than half the tasks.
    It is no speed-up of "0x" (which reads as a measured rate) but no speed at all, and the
    reports say so ("never", null in JSON).
    """
    out: dict[str, dict[str, float | None]] = {}
    for b in baselines:
        ttt = trials_to_target(runs, reference=b, budget=budget)
        own = ttt[ttt["method"] == b].set_index("task")["trials"]
        for method, block in ttt.groupby("method"):
            block = block[block["task"].isin(own.index)]
            ratio = own.loc[block["task"]].to_numpy() / block["trials"].to_numpy()
            median = float(np.median(ratio))
            out.setdefault(str(method), {})[b] = median if median > 0 else None
    return out


def wilcoxon_vs(runs: pd.DataFrame, method: str, baselines: Sequence[str], k: int,
                zero_method: str = "wilcox") -> dict[str, dict[str, Any]]:
    """Paired Wilcoxon signed-rank tests of ``method`` against each baseline at ``k`` trials.

    Pairs are the (task, seed) runs both methods have; the difference is
    ``regret(baseline) - regret(method)``, positive when ``method`` is better. Zero
    differences (both reached the same regret, often 0) are dropped by scipy's default
    ``zero_method="wilcox"``; pass ``"pratt"`` to keep them in the ranking.

    Returns:
        Per baseline: ``n`` pairs, ``n_nonzero``, ``median_diff``, ``p_two_sided``,
        ``p_better`` (one-sided: ``method`` has lower regret) and a ``note``. All-zero
        differences give p = 1.0 (no evidence either way); no pairs give NaN. Fewer than 6
        non-zero differences cannot reach p < 0.05 two-sided, which the note says.
    """
    matrix = regret_matrix(runs)
    k = min(int(k), int(matrix.columns.max()))
    at_k = matrix[k].unstack(level="method")
    if method not in at_k.columns:
        raise ValueError(f"method {method!r} is not in the runs table; "
                         f"methods are {sorted(at_k.columns)}")
    return {b: _wilcoxon_pair(at_k, method, b, zero_method) for b in baselines}


def _wilcoxon_pair(at_k: pd.DataFrame, method: str, baseline: str,
                   zero_method: str) -> dict[str, Any]:
    if baseline not in at_k.columns:
        raise ValueError(f"baseline {baseline!r} is not in the runs table; "
                         f"methods are {sorted(at_k.columns)}")
    pair = at_k[[method, baseline]].dropna()
    d = (pair[baseline] - pair[method]).to_numpy()
    nonzero = int(np.count_nonzero(d))
    res: dict[str, Any] = {"n": int(d.size), "n_nonzero": nonzero,
                           "median_diff": float(np.median(d)) if d.size else float("nan"),
                           "note": ""}
    if d.size == 0:
        return res | {"p_two_sided": float("nan"), "p_better": float("nan"),
                      "note": "no paired runs"}
    if nonzero == 0:
        return res | {"p_two_sided": 1.0, "p_better": 1.0,
                      "note": "all differences are zero"}
    two = stats.wilcoxon(d, zero_method=zero_method, alternative="two-sided")
    one = stats.wilcoxon(d, zero_method=zero_method, alternative="greater")
    if nonzero < 6:
        res["note"] = f"only {nonzero} non-zero differences: p < 0.05 is out of reach"
    return res | {"p_two_sided": float(two.pvalue), "p_better": float(one.pvalue)}


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (metasearch is tested against several baselines)."""
    items = sorted((p, name) for name, p in pvalues.items() if np.isfinite(p))
    m, running, out = len(items), 0.0, {name: float("nan") for name in pvalues}
    for i, (p, name) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return out

