"""The methods a comparison runs: metasearch, its ablations, and cold- and warm-start baselines.

Every method is built from the same inputs (the task, its meta-features, the seed and, for the
methods that learn from the past, the meta-model and the training tasks' trials), so each one
gets the same budget, seeds and initial conditions, and nothing of a test task reaches a
method before the search starts.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from metasearch.errors import MetasearchError

__all__ = ["METHODS", "MethodSpec", "TimedSampler", "WarmStart", "WarmStartCmaEs",
           "build_method"]


@dataclass(frozen=True)
class MethodSpec:
    """A method of the comparison.

    Attributes:
        name: the name used in ``--methods``, ``runs.csv`` and the report.
        group: ``metasearch``, ``ablation``, ``cold-start`` or ``warm-start``.
        description: one line for the report.
        uses_model: whether the method reads the meta-model (so needs a held-out one).
    """

    name: str
    group: str
    description: str
    uses_model: bool


METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    MethodSpec("metasearch", "metasearch", "MetaSampler (portfolio, prior, FSBO surrogate) "
               "and MetaPruner", True),
    MethodSpec("no-warmstart", "ablation", "metasearch without the warm-start portfolio", True),
    MethodSpec("no-prior", "ablation", "metasearch without the learned prior", True),
    MethodSpec("no-surrogate", "ablation", "metasearch without the transfer surrogate "
               "(prior draws only)", True),
    MethodSpec("rgpe-surrogate", "ablation", "metasearch with RGPE (gradient-free) instead of "
               "the FSBO deep-kernel surrogate", True),
    MethodSpec("no-pruner", "ablation", "metasearch without MetaPruner", True),
    MethodSpec("no-features", "ablation", "metasearch without the task's meta-features "
               "(uniform warm start and prior; trials still weigh past tasks)", True),
    MethodSpec("no-target-gp", "ablation", "no-pruner without the target-only GP blended "
               "into the FSBO surrogate (the meta-learned surrogate alone)", True),
    MethodSpec("random-acq", "ablation", "no-pruner taking the best of the random "
               "candidates, without local search of the acquisition", True),
    MethodSpec("random", "cold-start", "Optuna RandomSampler", False),
    MethodSpec("tpe", "cold-start", "Optuna TPESampler (multivariate, grouped)", False),
    MethodSpec("gp", "cold-start", "Optuna GPSampler", False),
    MethodSpec("cmaes", "cold-start", "Optuna CmaEsSampler (independent sampling for "
               "categoricals)", False),
    MethodSpec("ws-cmaes", "warm-start", "WS-CMA-ES: CmaEsSampler(source_trials=) from the "
               "most similar training task", True),
    MethodSpec("ws-tpe", "warm-start", "the 5 best configurations of the most similar "
               "training task enqueued, then TPE", True),
)}


SAMPLER_ONLY = ("no-pruner", "no-target-gp", "random-acq")
"""Methods without MetaPruner: the sampler's own ablations are measured against ``no-pruner``,
since a pruner that stops most trials early hides what the sampler proposes."""


@dataclass(frozen=True)
class WarmStart:
    """What the warm-start baselines take from the most similar training task.

    Attributes:
        task: the most similar training task (by the meta-model's task similarity).
        best: flat parameters of its best configurations, best first.
        source: (flat parameters, value) of its finished trials, for WS-CMA-ES.
    """

    task: str
    best: list[dict[str, Any]] = field(default_factory=list)
    source: list[tuple[dict[str, Any], float]] = field(default_factory=list)


class TimedSampler(BaseSampler):
    """A sampler that adds up the seconds its inner sampler spends choosing parameters."""

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner
        self.seconds = 0.0

    def _timed(self, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - start

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self._timed(self.inner.infer_relative_search_space, study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._timed(self.inner.sample_relative, study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._timed(self.inner.sample_independent, study, trial, param_name,
                           param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._timed(self.inner.before_trial, study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._timed(self.inner.after_trial, study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


class WarmStartCmaEs(BaseSampler):
    """WS-CMA-ES (Nomura et al., AAAI 2021) through Optuna's ``CmaEsSampler(source_trials=)``.

    Optuna only accepts source trials whose parameters are exactly CMA-ES's current search
    space, and with conditional parameters that space changes as the study goes on. So the
    source trials are cut to the space's parameters each time it changes (configurations
    that lack one are left out), and one CmaEsSampler is kept per space; each restores its
    optimizer from the study's trials, as a single one would.
    """

    def __init__(self, source: Sequence[tuple[dict[str, Any], float]],
                 distributions: Mapping[str, BaseDistribution], seed: int) -> None:
        self._source = list(source)
        self._dists = dict(distributions)
        self._seed = seed
        self._base = self._cma(None)
        self._by_space: dict[frozenset[str], BaseSampler] = {}

    def _cma(self, trials: list[FrozenTrial] | None) -> BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.CmaEsSampler(seed=self._seed, source_trials=trials or None,
                                                warn_independent_sampling=False)

    def _for(self, names: frozenset[str]) -> BaseSampler:
        if names not in self._by_space:
            trials = [optuna.trial.create_trial(
                params={k: params[k] for k in names},
                distributions={k: self._dists[k] for k in names}, value=float(value))
                for params, value in self._source if names <= params.keys()]
            self._by_space[names] = self._cma(trials)
        return self._by_space[names]

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self._base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        names = frozenset(search_space)
        return self._for(names).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._base.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        for sampler in (self._base, *self._by_space.values()):
            sampler.reseed_rng()


def build_method(name: str, *, model: Any | None, space: Any, max_budget: int,
                 task_features: Mapping[str, float] | None, seed: int,
                 warm: WarmStart | None = None
                 ) -> tuple[BaseSampler, optuna.pruners.BasePruner | None, list[dict[str, Any]]]:
    """The sampler, pruner (None: none) and trials to enqueue first for method ``name``.

    Raises:
        MetasearchError: an unknown method, or a model-based method without a model.
    """
    from metasearch.samplers import make_sampler
    from metasearch.samplers._meta_pruner import MetaPruner
    from metasearch.samplers._meta_sampler import MetaSampler

    spec = METHODS.get(name)
    if spec is None:
        raise MetasearchError(f"unknown method {name!r}: expected one of "
                              f"{', '.join(METHODS)}")
    if spec.uses_model and model is None:
        raise MetasearchError(f"method {name!r} needs a meta-model")
    if spec.group in ("metasearch", "ablation"):
        assert model is not None
        switches: dict[str, dict[str, Any]] = {
            "no-warmstart": {"use_portfolio": False},
            "no-prior": {"use_prior": False},
            "no-surrogate": {"use_surrogate": False},
            "rgpe-surrogate": {"surrogate_kind": "rgpe"},
            "no-features": {"task_features": None},
            "no-target-gp": {"use_target_gp": False},
            "random-acq": {"optimize_acquisition": False},
        }
        options = {"task_features": task_features, **switches.get(name, {})}
        if name == "rgpe-surrogate" and model.get("rgpe") is None:
            raise MetasearchError("method 'rgpe-surrogate' needs a model with the rgpe component")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = MetaSampler(model, seed=seed, **options)
        pruner = None
        if name not in SAMPLER_ONLY and max_budget > 1 and model.get("curves") is not None:
            pruner = MetaPruner(model, task_features=options["task_features"])
        return sampler, pruner, []
    if name in ("random", "tpe", "gp", "cmaes"):
        return make_sampler(name, seed), None, []
    if warm is None:
        raise MetasearchError(f"method {name!r} needs the most similar training task's trials")
    if name == "ws-cmaes":
        return WarmStartCmaEs(warm.source, space.distributions(), seed), None, []
    return make_sampler("tpe", seed), None, [dict(p) for p in warm.best]
