"""The warm-start baselines' sampler: WS-CMA-ES from the most similar training task's trials."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

__all__ = ["WarmStart", "WarmStartCmaEs"]


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
