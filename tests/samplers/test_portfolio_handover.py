"""MetaSampler hands a study over from the warm-start portfolio to the acquisition by evidence.

Six past studies of one parameter ``x`` in [0, 1], each peaked at its own optimum: three near
0.2, two near 0.55, one at 0.9. The greedy portfolio covers all three groups (0.42, 0.87, 0.21,
0.55, ...). A new study peaked at 0.9 has, after its first two trials, no use for the picks
aimed at the 0.2 and 0.55 studies; one peaked at 0.55 has. The portfolio's length must follow
that evidence: cut short in the first, played out in the second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest

from metasearch.metamodel import MetaModel, TaskContext
from metasearch.samplers._meta_acquisition import Acquisition
from metasearch.samplers._meta_sampler import HANDOVER_EVIDENCE, MetaSampler
from metasearch.samplers._meta_support import Support
from metasearch.samplers._methods import SearchInputs, build_method

OPTIMA = {"a0": 0.18, "a1": 0.2, "a2": 0.22, "b0": 0.55, "b1": 0.57, "c0": 0.9}
WARM = 5


def peaked(optimum: float) -> Any:
    def objective(trial: optuna.Trial) -> float:
        return -((trial.suggest_float("x", 0.0, 1.0) - optimum) ** 2)

    return objective


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> MetaModel:
    studies = []
    for i, (name, optimum) in enumerate(OPTIMA.items()):
        study = optuna.create_study(study_name=name, direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=i))
        study.optimize(peaked(optimum), n_trials=25)
        studies.append(study)
    sampler = MetaSampler.from_studies(studies, cache_dir=tmp_path_factory.mktemp("cache"))
    assert sampler.model is not None and "rgpe" in sampler.model.components
    return sampler.model


def first_xs(model: MetaModel, optimum: float, handover: bool, seed: int = 0) -> list[float]:
    sampler = MetaSampler(model, seed=seed, n_warmstart=WARM, handover=handover)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(peaked(optimum), n_trials=WARM)
    return [t.params["x"] for t in study.trials]


def portfolio_xs(model: MetaModel) -> list[float]:
    portfolio: Any = model.get("portfolio")
    return [c["x"] for c in portfolio.configs(WARM, TaskContext())]


def test_the_scenario_portfolio_covers_every_group(model: MetaModel) -> None:
    xs = portfolio_xs(model)
    for optimum in (0.2, 0.55, 0.9):
        assert min(abs(x - optimum) for x in xs) < 0.05, xs
    assert HANDOVER_EVIDENCE == 2 and max(xs[HANDOVER_EVIDENCE:]) < 0.75, xs


@pytest.mark.parametrize("seed", [0, 1])
def test_a_study_unlike_the_later_picks_hands_over(model: MetaModel, seed: int) -> None:
    portfolio = portfolio_xs(model)
    kept = first_xs(model, 0.9, handover=False, seed=seed)
    assert kept == portfolio  # without the handover: the whole portfolio
    tried = first_xs(model, 0.9, handover=True, seed=seed)
    # no evidence before HANDOVER_EVIDENCE trials: the portfolio's own picks
    assert tried[:HANDOVER_EVIDENCE] == portfolio[:HANDOVER_EVIDENCE]
    # then the surrogate, which has learnt from them that the study peaks high, takes over
    # for good: none of the picks made for the 0.2 and 0.55 studies is tried
    assert all(x > 0.75 for x in tried[HANDOVER_EVIDENCE:]), (tried, portfolio)
    assert max(-(x - 0.9) ** 2 for x in tried) > max(-(x - 0.9) ** 2 for x in kept)


def test_a_study_like_the_later_picks_keeps_the_portfolio(model: MetaModel) -> None:
    assert first_xs(model, 0.55, handover=True) == portfolio_xs(model)


class Fixed:
    """A predictor whose posterior is given: mean ``x[:, 0]``, std ``x[:, 1]``."""

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:, 0], x[:, 1]


def test_share_below_ranks_a_configuration_among_candidates_by_the_acquisition() -> None:
    context = TaskContext(x=np.array([[0.5, 0.1]]), scores=np.array([1.0]))
    support = Support(x=context.x, scores=context.scores)
    acquisition = Acquisition(Fixed(), None, context)
    pool = np.array([[0.1, 0.1], [0.2, 0.1], [0.6, 0.1], [0.9, 0.1]])
    assert acquisition.share_below(np.array([0.3, 0.1]), pool, support) == 0.5
    assert acquisition.share_below(np.array([0.05, 0.1]), pool, support) == 0.0
    assert acquisition.share_below(np.array([0.95, 0.1]), pool, support) == 1.0
    # EI, not the mean: a wide posterior below the incumbent (0.5) outranks a sure one above
    assert acquisition.share_below(np.array([0.45, 0.5]), pool, support) == 0.75


def test_a_handover_is_for_good(model: MetaModel) -> None:
    """Once a trial within the portfolio's length was the acquisition's, every later one is,
    even where the next portfolio pick would be judged worth its turn."""
    portfolio = portfolio_xs(model)
    objective = peaked(0.55)
    study = optuna.create_study(direction="maximize",
                                sampler=MetaSampler(model, seed=0, n_warmstart=WARM))
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    for x in (*portfolio[:2], 0.3):  # the 3rd was no portfolio pick: the handover was made
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions={"x": dist},
                                                  value=-((x - 0.55) ** 2)))
    study.optimize(objective, n_trials=2)
    assert all(t.params["x"] not in portfolio for t in study.trials[3:]), portfolio


class Counting:
    """The sampler's own surrogate, counting its adaptations by the size of the support set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def adapt(self, context: TaskContext) -> Any:
        self.calls.append(0 if context.x is None else len(context.x))
        return self.inner.adapt(context)


class Uncached(MetaSampler):
    """MetaSampler adapting its surrogate again at each ask, as it did before."""

    def _adapted_to(self, support: Support) -> Any:
        self._adapted = None
        return super()._adapted_to(support)


@pytest.mark.parametrize("handover", [True, False])
def test_each_proposal_adapts_the_surrogate_once(model: MetaModel, handover: bool) -> None:
    """A handover trial asks the adapted surrogate twice (the portfolio's check, then the
    acquisition that takes over); it is adapted once, and the study is the same trial for
    trial as with the surrogate adapted at each ask."""
    xs = {}
    for kind in (MetaSampler, Uncached):
        sampler = kind(model, seed=0, n_warmstart=WARM, handover=handover)
        counting = Counting(sampler._surrogate)
        sampler._surrogate = counting  # type: ignore[assignment]
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(peaked(0.9), n_trials=WARM + 2)
        xs[kind] = [t.params["x"] for t in study.trials]
        if kind is MetaSampler:
            # one adaptation per trial that consulted the surrogate: from the portfolio's
            # evidence on with the handover, after the whole portfolio without it
            start = HANDOVER_EVIDENCE if handover else WARM
            assert counting.calls == list(range(start, WARM + 2)), counting.calls
    assert xs[MetaSampler] == xs[Uncached]


def test_the_no_handover_ablation_plays_the_whole_portfolio(model: MetaModel) -> None:
    """``compare``'s ``no-handover`` is metasearch with the fixed portfolio: where metasearch
    hands the study over, it plays every pick."""
    def first(method: str) -> list[float]:
        built = build_method(method, SearchInputs(seed=0, model=model))
        study = optuna.create_study(direction="maximize", sampler=built.sampler)
        study.optimize(peaked(0.9), n_trials=WARM)
        return [t.params["x"] for t in study.trials]

    assert first("no-handover") == portfolio_xs(model)
    assert first("metasearch") == first_xs(model, 0.9, handover=True) != portfolio_xs(model)
