"""What a comparison wraps around every method's sampler: the seconds it spends suggesting.

The methods themselves (metasearch, its ablations, the cold- and warm-start baselines) are
built from one registry, :data:`metasearch.samplers.METHODS`, shared with ``metasearch run``;
each is built from the same inputs (the task, its meta-features, the seed and, for the methods
that learn from the past, the meta-model and the training tasks' trials), so each one gets the
same budget, seeds and initial conditions, and nothing of a test task reaches a method before
the search starts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TimedSampler"]


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
