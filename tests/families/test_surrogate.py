"""Per-task surrogates of stored trials: fitted per task, seeded, and their fit measured."""

from __future__ import annotations

import numpy as np

from metasearch.families import SurrogateFamily
from metasearch.spaces import Float, SearchSpace

SPACE = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])


def _family(noise_only: bool) -> SurrogateFamily:
    rng = np.random.default_rng(0)
    configs = [SPACE.sample(rng) for _ in range(40)]
    x = SPACE.encode_many(configs)
    y = rng.normal(size=40) if noise_only else (x[:, 0] - 0.3) ** 2 + 0.5 * x[:, 1]
    cls = type("Toy", (SurrogateFamily,), {"name": "toy", "max_budget": 1,
                                           "direction": "minimize"})
    return cls(SPACE, {"t": (x, y)}, {"t": {"rows": 1.0}})


def test_fit_quality_tells_a_learnable_task_from_noise() -> None:
    smooth, noise = _family(False).fit("t"), _family(True).fit("t")
    assert smooth.trials == 40 and smooth.folds == 5
    assert smooth.spearman > 0.8 and smooth.r2 > 0.6
    assert noise.spearman < 0.4 and noise.r2 < 0.2


def test_a_task_answers_by_its_surrogate_deterministically() -> None:
    task = _family(False).task("t")
    good = task.evaluate({"x": 0.3, "y": 0.0}, seed=0)
    bad = task.evaluate({"x": 1.0, "y": 1.0}, seed=0)
    assert good.status == "complete" and len(good.curve) == 1
    assert good.final_value is not None and bad.final_value is not None
    assert good.final_value < bad.final_value
    assert _family(False).task("t").evaluate({"x": 0.3, "y": 0.0}).final_value == \
        good.final_value
    assert task.meta_features == {"rows": 1.0}
