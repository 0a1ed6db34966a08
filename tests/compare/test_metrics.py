"""The comparison metrics against cases small enough to compute by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metasearch.compare import (
    add_regret,
    average_rank,
    bootstrap_ci,
    cost_summary,
    effective_ks,
    holm,
    incumbent_curve,
    normalized_regret,
    rank_curve,
    regret_at,
    regret_curve,
    speedup,
    summarize,
    summary_table,
    task_bounds,
    trials_to_target,
    wilcoxon_vs,
)


def regret_table(curves: dict[tuple[str, str, int], list[float]]) -> pd.DataFrame:
    """A runs table with only what the regret metrics read: one row per trial."""
    rows = [{"method": m, "task": t, "seed": s, "trial": i + 1, "regret": r}
            for (m, t, s), curve in curves.items() for i, r in enumerate(curve)]
    return pd.DataFrame(rows)


# 2 methods x 2 tasks x 2 seeds; B's (t1, 1) run stopped after one trial.
TOY = regret_table({
    ("A", "t1", 0): [0.4, 0.1], ("A", "t1", 1): [0.2, 0.2],
    ("A", "t2", 0): [0.6, 0.3], ("A", "t2", 1): [0.0, 0.0],
    ("B", "t1", 0): [0.5, 0.5], ("B", "t1", 1): [0.9],
    ("B", "t2", 0): [1.0, 0.2], ("B", "t2", 1): [0.7, 0.1],
})


# --- incumbent and regret -----------------------------------------------------------------


def test_incumbent_maximize_skips_nan_and_inf() -> None:
    got = incumbent_curve([np.nan, 0.5, 0.3, np.nan, 0.7, np.inf], "maximize")
    np.testing.assert_array_equal(got, [np.nan, 0.5, 0.5, 0.5, 0.7, 0.7])


def test_incumbent_minimize() -> None:
    got = incumbent_curve([3.0, np.nan, 1.0, 2.0, -np.inf], "minimize")
    np.testing.assert_array_equal(got, [3.0, 3.0, 1.0, 1.0, 1.0])
    assert incumbent_curve([], "minimize").size == 0


def test_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="'max'"):
        incumbent_curve([1.0], "max")


def test_regret_maximize_scales_and_clips() -> None:
    got = normalized_regret([np.nan, 0.25, 1.0, 1.2, -0.5], best=1.0, worst=0.0,
                            direction="maximize")
    np.testing.assert_allclose(got, [1.0, 0.75, 0.0, 0.0, 1.0])


def test_regret_minimize_and_degenerate_task() -> None:
    np.testing.assert_allclose(normalized_regret([4.0, 10.0], 2.0, 10.0, "minimize"), [0.25, 1])
    np.testing.assert_allclose(normalized_regret([3.0, np.nan], 3.0, 3.0, "minimize"), [0, 1])


def test_add_regret_ignores_failed_values_and_merges_known_bounds() -> None:
    runs = pd.DataFrame({
        "task": "t", "method": "m", "seed": 0, "trial": [2, 1, 3, 4],
        "value": [0.5, np.nan, 99.0, 0.8], "state": ["complete", "pruned", "failed", "complete"],
    })
    bounds = task_bounds(runs, "maximize")
    assert (bounds.loc["t", "best"], bounds.loc["t", "worst"]) == (0.8, 0.5)
    out = add_regret(runs, bounds)
    assert out["trial"].tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(out["incumbent"], [np.nan, 0.5, 0.5, 0.8])
    np.testing.assert_allclose(out["regret"], [1.0, 1.0, 1.0, 0.0])
    known = pd.DataFrame({"best": [1.0], "worst": [0.0]}, index=["t"])
    wide = add_regret(runs, task_bounds(runs, {"t": "maximize"}, known))
    np.testing.assert_allclose(wide["regret"], [1.0, 0.5, 0.5, 0.2])


def test_add_regret_per_task_directions() -> None:
    runs = pd.DataFrame({
        "task": ["loss"] * 3 + ["acc"] * 3, "method": "m", "seed": 0, "trial": [1, 2, 3] * 2,
        "value": [4.0, 2.0, 3.0, 0.2, 0.6, 0.4], "state": "complete",
    })
    out = add_regret(runs, task_bounds(runs, {"loss": "minimize", "acc": "maximize"}))
    out = out.set_index(["task", "trial"])
    np.testing.assert_allclose(out.loc["loss", "incumbent"], [4.0, 2.0, 2.0])
    np.testing.assert_allclose(out.loc["loss", "regret"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(out.loc["acc", "incumbent"], [0.2, 0.6, 0.6])
    np.testing.assert_allclose(out.loc["acc", "regret"], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="'acc'"):
        task_bounds(runs, {"loss": "minimize"})


# --- regret at k, bootstrap, rank ---------------------------------------------------------


def test_effective_ks_replaces_ks_beyond_budget_by_budget() -> None:
    assert effective_ks((1, 5, 10, 25, 50), 20) == [1, 5, 10, 20]
    assert effective_ks((1, 5), 20) == [1, 5]


def test_regret_at_by_hand() -> None:
    got = regret_at(TOY, ks=(1, 2, 5), n_boot=500).set_index(["method", "k"])
    assert got.index.tolist() == [("A", 1), ("A", 2), ("B", 1), ("B", 2)]  # k=5 -> budget 2
    assert (got["n"] == 4).all()
    np.testing.assert_allclose(got["mean"], [0.3, 0.15, 0.775, 0.425])
    np.testing.assert_allclose(got["median"], [0.3, 0.15, 0.8, 0.35])  # B@2 carries 0.9
    assert (got["mean_lo"] <= got["mean"]).all() and (got["mean"] <= got["mean_hi"]).all()
    assert (got["median_lo"] <= got["median_hi"]).all()


def test_bootstrap_is_deterministic_and_contains_the_mean() -> None:
    x = np.random.default_rng(1).uniform(size=40)
    lo, hi = bootstrap_ci(x, seed=3)
    assert lo < x.mean() < hi
    assert bootstrap_ci(x, seed=3) == (lo, hi)
    assert bootstrap_ci(x, seed=4) != (lo, hi)
    assert np.isnan(bootstrap_ci([])[0])


def test_regret_curve_band_matches_regret_at_interval() -> None:
    curve = regret_curve(TOY, n_boot=300, seed=5).set_index(["method", "trial"])
    at = regret_at(TOY, ks=(2,), n_boot=300, seed=5).set_index(["method", "k"])
    np.testing.assert_allclose(curve.loc[("B", 2), ["mean", "lo", "hi"]].to_numpy(float),
                               at.loc[("B", 2), ["mean", "mean_lo", "mean_hi"]].to_numpy(float))


def test_average_rank_by_hand() -> None:
    got = average_rank(TOY, ks=(1, 2)).set_index(["method", "k"])
    np.testing.assert_allclose(got["rank"], [1.0, 1.25, 2.0, 1.75])
    assert (got["n"] == 4).all()


def test_rank_ties_are_averaged_and_incomplete_pairs_left_out() -> None:
    runs = regret_table({("A", "t", 0): [0.2], ("B", "t", 0): [0.2], ("C", "t", 0): [0.5],
                         ("A", "u", 0): [0.1], ("B", "u", 0): [0.3]})  # C never ran u
    got = rank_curve(runs).set_index("method")
    np.testing.assert_allclose(got.loc[["A", "B", "C"], "rank"], [1.5, 1.5, 3.0])
    assert (got["n"] == 1).all()


# --- trials to target and speed-up --------------------------------------------------------

TARGETS = regret_table({
    ("tpe", "t1", 0): [1, 0.8, 0.6, 0.4], ("tpe", "t1", 1): [1, 0.6, 0.4, 0.2],   # mean .3
    ("ms", "t1", 0): [0.5, 0.2, 0.1, 0.1], ("ms", "t1", 1): [0.4, 0.4, 0.3, 0.0],  # .3 at 2
    ("tpe", "t2", 0): [0.5, 0.5, 0.5, 0.5], ("tpe", "t2", 1): [0.5, 0.3, 0.3, 0.3],  # .4 at 2
    ("ms", "t2", 0): [0.9, 0.9, 0.9, 0.9], ("ms", "t2", 1): [0.9, 0.9, 0.8, 0.8],  # never
})


def test_trials_to_target_by_hand() -> None:
    got = trials_to_target(TARGETS, reference="tpe").set_index(["method", "task"])
    np.testing.assert_allclose(got["target"], [0.3, 0.4, 0.3, 0.4])
    assert got["trials"].tolist() == [2.0, np.inf, 4.0, 2.0]
    assert got["runs_reached"].tolist() == [1.0, 0.0, 0.5, 0.5]


def test_trials_to_target_needs_the_reference() -> None:
    with pytest.raises(ValueError, match="'random'"):
        trials_to_target(TARGETS, reference="random")


def test_speedup_by_hand() -> None:
    got = speedup(TARGETS, ["tpe", "ms"])
    # vs tpe: t1 4/2 = 2, t2 2/inf = 0 -> median 1; vs ms: t1 4/inf = 0, t2 3/1 = 3 -> 1.5
    assert got == {"ms": {"tpe": 1.0, "ms": 1.0}, "tpe": {"tpe": 1.0, "ms": 1.5}}


def test_no_speedup_where_the_target_is_missed_on_most_tasks() -> None:
    """ms misses tpe's final regret on t2 and t3 (ratios 2, 0, 0): no speed-up, not 0x."""
    t3 = regret_table({("tpe", "t3", 0): [0.5, 0.4, 0.4, 0.4], ("ms", "t3", 0): [0.9] * 4})
    got = speedup(pd.concat([TARGETS, t3], ignore_index=True), ["tpe"])
    assert got["ms"]["tpe"] is None and got["tpe"]["tpe"] == 1.0


# --- Wilcoxon -----------------------------------------------------------------------------


def paired(diffs: list[float]) -> pd.DataFrame:
    """Method "m" at regret 0.5 on every pair; baseline "b" at 0.5 + diff."""
    curves: dict[tuple[str, str, int], list[float]] = {}
    for i, d in enumerate(diffs):
        curves[("m", f"t{i}", 0)] = [0.5]
        curves[("b", f"t{i}", 0)] = [0.5 + d]
    return regret_table(curves)


def test_wilcoxon_exact_when_method_always_better() -> None:
    res = wilcoxon_vs(paired([0.01 * (i + 1) for i in range(8)]), "m", ["b"], k=1)["b"]
    assert res["n"] == 8 and res["note"] == ""
    assert res["p_better"] == pytest.approx(1 / 256)
    assert res["p_two_sided"] == pytest.approx(2 / 256)


def test_wilcoxon_matches_scipy() -> None:
    diffs = [0.1, 0.2, -0.05, 0.3, 0.15, -0.25, 0.05, 0.4, 0.0, 0.12]
    runs = paired(diffs)
    res = wilcoxon_vs(runs, "m", ["b"], k=1)["b"]
    wide = runs.pivot(index="task", columns="method", values="regret")
    d = (wide["b"] - wide["m"]).to_numpy()
    assert res["p_two_sided"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert res["p_better"] == pytest.approx(stats.wilcoxon(d, alternative="greater").pvalue)
    assert res["n"] == 10 and res["n_nonzero"] == 9


def test_wilcoxon_all_ties_few_pairs_and_no_pairs() -> None:
    ties = wilcoxon_vs(paired([0.0] * 5), "m", ["b"], k=1)["b"]
    assert ties["p_two_sided"] == ties["p_better"] == 1.0 and "zero" in ties["note"]
    few = wilcoxon_vs(paired([0.1, 0.2, 0.3]), "m", ["b"], k=1)["b"]
    assert "3 non-zero" in few["note"]
    apart = regret_table({("m", "t", 0): [0.1], ("b", "u", 0): [0.2]})
    none = wilcoxon_vs(apart, "m", ["b"], k=1)["b"]
    assert none["n"] == 0 and np.isnan(none["p_better"])


def test_holm_by_hand() -> None:
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx(
        {"a": 0.03, "b": 0.06, "c": 0.06})


# --- cost and summary ---------------------------------------------------------------------


def test_cost_summary(runs: pd.DataFrame, costs: pd.DataFrame) -> None:
    got = cost_summary(runs, costs)
    assert got.loc["metasearch", "meta_train_s"] == 12.0
    assert got.loc["metasearch", "pruned_epochs_saved"] == 30 * 12
    assert got.loc["tpe", "trials"] == 20 * 12
    per_run = sum(0.5 + 0.1 * i for i in range(20))
    assert got.loc["tpe", "trials_per_hour"] == pytest.approx(3600 * 20 / per_run)


def test_summarize_is_json_ready_and_tabulates(runs: pd.DataFrame,
                                               costs: pd.DataFrame) -> None:
    summary = summarize(runs, costs, method_of_interest="metasearch",
                        baselines=["tpe", "random"], reference="tpe", n_boot=200)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["ks"] == [1, 5, 10, 20] and summary["budget"] == 20
    assert summary["speedup"]["tpe"]["tpe"] == 1.0
    assert set(summary["wilcoxon"]["20"]) == {"tpe", "random"}
    table = summary_table(summary)
    assert [r[0] for r in table[1:]] == ["metasearch", "random", "tpe"]
    assert len({len(r) for r in table}) == 1
