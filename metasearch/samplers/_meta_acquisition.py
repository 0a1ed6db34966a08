"""Candidates and the acquisition that ranks them: EI under the adapted surrogate times a prior.

Candidates come from three sources, because each covers what the others miss: the learned
prior (where past tasks were good), uniform draws (what the prior may have wrongly ruled out),
and local moves around the incumbent (exploitation once the task's own trials say where it is
good). They are scored by expected improvement over the best support trial under the
surrogate's posterior, weighted by the prior raised to ``trust * beta / n`` (piBO): the prior
steers the first trials and fades as the task's own evidence grows, faster where that evidence
says the prior ranks the task's configurations poorly (:func:`prior_trust`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from scipy.special import erfcx, log_ndtr

from metasearch.errors import MetasearchError
from metasearch.metamodel import ConfigPrior, TaskContext
from metasearch.metamodel.surrogates import Predictor, ranking_losses
from metasearch.samplers._acq_optimizer import MAX_ROUNDS, from_unit, local_search, to_unit
from metasearch.samplers._meta_support import NEAR, Support, config_keys
from metasearch.spaces import SearchSpace

__all__ = [
    "Acquisition",
    "Candidates",
    "log_expected_improvement",
    "log_h",
    "prior_trust",
    "uniform_flat",
]

LOCAL_STEP = 0.1
"""Standard deviation of a local move of a numeric parameter, on its unit (log) scale."""
LOCAL_SWITCH = 0.15
"""Probability that a local move changes a categorical parameter (or a cell edge)."""
LARGE_SUPPORT = 200
"""Finished support trials beyond which the local search is economised (half the starts and
half the rounds; see :meth:`Acquisition._climb`): at 1,000 trials the climbs' scoring was most
of a suggestion's cost."""
TRUST_PSEUDO_TRIALS = 10.0
"""Trials' worth of belief in the prior before the task's own evidence is read: with ``m``
finished trials the prior's trust is ``(K + m tau) / (K + m)`` (see :func:`prior_trust`)."""
TRUST_EVIDENCE = 10
"""Trials with a score the trust waits for: Kendall's tau of fewer is mostly noise (its standard
error is about 0.25 at 10 trials, 0.4 at 5), and on ``tabular-mlp``, whose accuracies differ by a
validation sample or two, reading it from the second trial cost regret at 10 trials."""


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate at both ends (Maechler, 2012)."""
    x = np.minimum(x, -1e-300)
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(z Phi(z) + phi(z))``, the log of EI over a unit-variance posterior, for any ``z``.

    Above ``z = -1`` the sum is computed directly (no cancellation: both terms are positive or
    ``phi`` dominates). Below, ``z Phi(z) + phi(z) = phi(z) (1 - |z| erfcx(|z|/sqrt 2)
    sqrt(pi / 2))`` with the scaled complementary error function, so the log is
    ``log phi(z) + log1mexp(log(|z| erfcx(|z|/sqrt 2) sqrt(pi/2)))``: exact to float64 down to
    ``z = -1e8`` (the form of BoTorch's ``log_ei`` helper; Ament et al., "Unexpected
    improvements to expected improvement for Bayesian optimization", NeurIPS 2023), where the
    asymptote ``log phi(z) - 2 log|z|`` takes over. One formula per side and both exact, so
    the result is smooth and increasing in ``z`` (the old switch to the asymptote at -6 was
    not).
    """
    z = np.asarray(z, dtype=np.float64)
    log_phi = -0.5 * z * z - 0.5 * math.log(2.0 * math.pi)
    upper = z > -1.0
    zu = np.where(upper, z, 0.0)
    direct = np.log(zu * np.exp(log_ndtr(zu)) + np.exp(-0.5 * zu * zu) / math.sqrt(2 * math.pi))
    zl = np.where(upper, -2.0, z)
    far = zl < -1e8
    zm = np.where(far, -2.0, zl)
    tail = -0.5 * zm * zm - 0.5 * math.log(2.0 * math.pi) + _log1mexp(
        np.log(erfcx(-zm / math.sqrt(2.0)) * -zm) + 0.5 * math.log(math.pi / 2.0))
    asymptote = log_phi - 2.0 * np.log(np.abs(np.where(far, zl, -2.0)))
    return np.where(upper, direct, np.where(far, asymptote, tail))


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """``log EI`` of maximising over ``best``: ``log std + log h((mean - best) / std)``."""
    std = np.maximum(np.asarray(std, dtype=np.float64), 1e-9)
    return np.log(std) + log_h((np.asarray(mean, dtype=np.float64) - best) / std)


def prior_trust(prior: ConfigPrior | None, context: TaskContext) -> float:
    """How far the task's own trials bear the learned prior out, in [0, 1].

    piBO's ``beta / n`` fades the prior at the same rate on every task, whether the task's
    trials agree with it or not. Where the prior's peaks are the task's good region that is
    right; where the task is unlike the past ones (or the prior only knew the broad region),
    it keeps pulling proposals towards configurations the trials already speak against, and
    the search stalls near them. So its exponent is scaled by a trust read off the trials:
    ``tau``, Kendall's rank correlation between the prior's log density at the finished
    trials and their scores (floored at 0: a prior that ranks them worse than chance earns
    nothing), shrunk towards full trust by :data:`TRUST_PSEUDO_TRIALS` pseudo-trials, as
    ``(K + m tau) / (K + m)`` over ``m`` trials with a score. Full trust (1) with no prior,
    fewer than :data:`TRUST_EVIDENCE` such trials, all of them tied, or a density that is not
    finite at them.
    """
    if prior is None:
        return 1.0
    y = np.asarray(context.scores, dtype=np.float64).reshape(-1)
    ok = np.isfinite(y)
    m = int(ok.sum())
    if m < TRUST_EVIDENCE:
        return 1.0
    y = y[ok]
    _, counts = np.unique(y, return_counts=True)
    pairs = (m * m - float(np.sum(counts.astype(np.float64) ** 2))) / 2.0
    if pairs <= 0:
        return 1.0
    x = np.asarray(context.x, dtype=np.float64)[ok]
    density = np.asarray(prior.log_density(x, context, remember=True),
                         dtype=np.float64).reshape(-1)
    if not np.isfinite(density).all():
        return 1.0
    tau = 1.0 - 2.0 * float(ranking_losses(density[None, :], y)[0]) / pairs
    return (TRUST_PSEUDO_TRIALS + m * max(tau, 0.0)) / (TRUST_PSEUDO_TRIALS + m)


def uniform_flat(dists: Mapping[str, BaseDistribution], rng: np.random.Generator
                 ) -> dict[str, Any]:
    """A uniform value of every flat parameter, active or not (numbers on their own scale)."""
    out: dict[str, Any] = {}
    for name, dist in dists.items():
        if isinstance(dist, CategoricalDistribution):
            out[name] = dist.choices[int(rng.integers(len(dist.choices)))]
        elif isinstance(dist, (FloatDistribution, IntDistribution)):
            out[name] = from_unit(dist, float(rng.random()))
    return out


@dataclass
class Candidates:
    """Candidate configurations of a space, drawn from a prior, uniformly and locally.

    Args:
        space: the model's search space.
        fixed: flat parameters every candidate must take (enqueued or fixed by the user).
    """

    space: SearchSpace
    fixed: Mapping[str, Any]
    _dists: dict[str, BaseDistribution] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._dists = self.space.distributions()

    def complete(self, flat: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """A configuration from flat values: fixed ones imposed, missing active ones drawn.

        Only the parameters ``flat`` and the fixed ones lack are drawn (a local move changes
        one parameter of a whole configuration, so usually none is).
        """
        missing = {n: d for n, d in self._dists.items()
                   if n not in flat and n not in self.fixed}
        merged = {**uniform_flat(missing, rng), **flat, **self.fixed}
        return self.space.unflatten(merged)

    def move(self, config: Mapping[str, Any], flat: Mapping[str, Any], name: str, value: Any,
             rng: np.random.Generator) -> dict[str, Any]:
        """:meth:`complete` of ``{**flat, name: value}``, where ``flat`` is ``config``'s flat form.

        A local search's neighbour: ``config`` with one flat parameter moved. Where the move
        cannot change which parameters are active and nothing is fixed, that is ``config``
        with the one value replaced (:meth:`SearchSpace.replace`); only the draws
        :meth:`complete` makes for the parameters ``flat`` lacks are made (they are inactive,
        so dropped), so the random stream, hence every seeded proposal, stays as it was.
        """
        if self.fixed or self.space.sets_activity(name):
            return self.complete({**flat, name: value}, rng)
        for lacking, dist in self._dists.items():  # uniform_flat's draws, in its order
            if lacking not in flat:
                if isinstance(dist, CategoricalDistribution):
                    rng.integers(len(dist.choices))
                elif isinstance(dist, (FloatDistribution, IntDistribution)):
                    rng.random()
        return self.space.replace(config, name, value)

    def local(self, centre: Mapping[str, Any], n: int, rng: np.random.Generator
              ) -> list[dict[str, Any]]:
        """``n`` small moves around flat configuration ``centre``."""
        out = []
        for _ in range(n):
            moved: dict[str, Any] = {}
            for name, value in centre.items():
                dist = self._dists.get(name)
                if isinstance(dist, CategoricalDistribution):
                    switch = rng.random() < LOCAL_SWITCH
                    moved[name] = dist.choices[int(rng.integers(len(dist.choices)))] \
                        if switch else value
                elif isinstance(dist, (FloatDistribution, IntDistribution)):
                    u = to_unit(dist, value) + LOCAL_STEP * float(rng.standard_normal())
                    moved[name] = from_unit(dist, u)
            out.append(self.complete(moved, rng))
        return out

    def draw(self, configs: list[dict[str, Any]], rng: np.random.Generator
             ) -> list[dict[str, Any]]:
        """``configs`` with the fixed parameters imposed (those that no longer fit are dropped).

        ``configs`` must be valid configurations (the prior's and the space's draws are). With
        nothing fixed, each is its own completion, so only the draws :meth:`complete` would
        make are made (keeping the random stream, hence seeded proposals, as they were) and
        the costly flatten-and-validate round trip is skipped.
        """
        if not self.fixed:
            sizes = [len(d.choices) if isinstance(d, CategoricalDistribution) else 0
                     for d in self._dists.values()
                     if isinstance(d, (CategoricalDistribution, FloatDistribution,
                                       IntDistribution))]
            for _ in configs:  # the draws uniform_flat makes, in its order
                for size in sizes:
                    if size:
                        rng.integers(size)
                    else:
                        rng.random()
            return [dict(config) for config in configs]
        out = []
        for config in configs:
            try:
                out.append(self.complete(self.space.flatten(config), rng))
            except (MetasearchError, ValueError):
                continue
        return out


@dataclass
class Acquisition:
    """piBO-weighted expected improvement of an adapted surrogate (either part may be absent).

    Args:
        predictor: the surrogate adapted to the support set, with ``predict(x)``; or None.
        prior: the learned prior, with ``log_density(x, context)``; or None.
        context: the task context the prior is weighted by and the predictor conditioned on
            (the support set's conditioning subset); EI improves on its best predicted mean.
        beta: piBO's prior strength; the prior's exponent is ``trust * beta / n``, ``n``
            counting every finished support trial.
        optimize: polish the best candidates by local search (:func:`local_search`); False
            takes the best candidate as drawn (the ``random-acq`` ablation).
        trust: how far the task's trials bear the prior out (:func:`prior_trust`); scales
            the prior's exponent.
        near: a candidate within this of a taken configuration in every encoded column
            (:meth:`Support.near_taken`) is a repeat within rounding and never proposed; 0
            leaves only exact repeats out (a finite space, whose choices are exact).
    """

    predictor: Predictor | None
    prior: ConfigPrior | None
    context: TaskContext
    beta: float = 10.0
    optimize: bool = True
    n_starts: int = 4
    trust: float = 1.0
    near: float = NEAR
    _incumbent: float | None = field(default=None, init=False, repr=False)

    def _best_mean(self) -> float | None:
        """The predictor's best mean over the conditioning set (what EI improves on)."""
        if self._incumbent is None and self.predictor is not None:
            scores = np.asarray(self.context.scores, dtype=np.float64).reshape(-1)
            ok = np.isfinite(scores)
            if ok.any():
                seen = np.asarray(self.context.x, dtype=np.float64)[ok]
                self._incumbent = float(np.max(self.predictor.predict(seen)[0]))
        return self._incumbent

    def share_below(self, x: np.ndarray, pool: np.ndarray, support: Support) -> float:
        """The share of ``pool``'s rows that score strictly below the one row of ``x``.

        A rank, so free of the score's units (which differ by surrogate and by how many
        trials the prior's exponent divides).
        """
        own = self.scores(np.asarray(x, dtype=np.float64).reshape(1, -1), support)[0]
        drawn = self.scores(pool, support)
        return float(np.mean(drawn < own)) if len(drawn) else 1.0

    def scores(self, x: np.ndarray, support: Support, *, prior: bool = True) -> np.ndarray:
        """Log acquisition of each row of ``x`` (higher is better); ``prior=False`` leaves the
        prior's term out (with a predictor: EI alone)."""
        return self._terms(x, support, prior=prior)[0]

    def _terms(self, x: np.ndarray, support: Support, *, prior: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`scores` of each row of ``x``, and the surrogate's term alone (what
        ``prior=False`` gives with a predictor), from one prediction."""
        surrogate = np.zeros(len(x))
        n = max(support.n_ok, 1)
        if self.predictor is not None:
            mean, std = self.predictor.predict(x)
            best = self._best_mean() if support.n_ok else None
            if best is not None:
                surrogate += log_expected_improvement(np.asarray(mean), np.asarray(std), best)
            else:
                surrogate += np.asarray(mean)  # nothing to improve on yet: the predicted best
        if self.prior is not None and (prior or self.predictor is None):
            weight = self.trust * self.beta / n if self.predictor is not None else 1.0
            return surrogate + weight * np.asarray(self.prior.log_density(x, self.context)), \
                surrogate
        return surrogate, surrogate

    def fresh_scores(self, configs: list[dict[str, Any]], space: SearchSpace, support: Support,
                     *, prior: bool = True) -> np.ndarray:
        """:meth:`scores` of normalized configurations; minus infinity for those taken, those
        within rounding of a taken one (``near``) and those the space forbids (so none is ever
        proposed)."""
        return self._fresh_terms(configs, space, support, prior=prior)[0]

    def _fresh_terms(self, configs: list[dict[str, Any]], space: SearchSpace, support: Support,
                     *, prior: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fresh_scores` and the surrogate's term alone, masked alike, from one encoding
        and one prediction (the local search starts from the candidates' EI)."""
        if not configs:
            return np.zeros(0), np.zeros(0)
        x = space.encode_many(configs, validated=True)  # Candidates makes valid ones only
        fresh = np.array([key not in support.taken and space.allows(config)
                          for key, config in zip(config_keys(x), configs, strict=True)])
        if self.near > 0.0:
            fresh &= ~support.near_taken(x, self.near)
        if not fresh.any():
            return np.full(len(configs), -np.inf), np.full(len(configs), -np.inf)
        total, surrogate = self._terms(x, support, prior=prior)
        return np.where(fresh, total, -np.inf), np.where(fresh, surrogate, -np.inf)

    def best(self, configs: list[dict[str, Any]], space: SearchSpace, support: Support,
             make: Candidates | None = None, rng: np.random.Generator | None = None
             ) -> dict[str, Any] | None:
        """The highest-scoring configuration not already taken, or None if all are.

        ``configs`` must be normalized configurations of ``space`` (:class:`Candidates`'
        output), as they are encoded without being checked again. With ``make`` and ``rng``
        (and ``optimize``), the local search adds configurations (:meth:`_climb`) and the
        best configuration of either kind under the whole acquisition is returned.
        """
        if not configs:
            return None
        scores, ei = self._fresh_terms(configs, space, support)
        if not np.isfinite(scores).any():
            return None
        if self.optimize and make is not None and rng is not None and self.predictor is not None:
            found = self._climb(configs, scores, ei, space, support, make, rng)
            configs = [*configs, *found]
            scores = np.concatenate([scores, self.fresh_scores(found, space, support)])
        return configs[int(np.argmax(scores))]

    def _climb(self, configs: list[dict[str, Any]], scores: np.ndarray, ei: np.ndarray,
               space: SearchSpace, support: Support, make: Candidates, rng: np.random.Generator
               ) -> list[dict[str, Any]]:
        """Where the local search's climbs of expected improvement alone end (one per start).

        ``scores`` and ``ei`` are the candidates' whole acquisition and EI alone
        (:meth:`_fresh_terms`).

        The climbs follow EI, not EI times the prior. The learned prior is a kernel density
        whose peaks are past tasks' best configurations, which the warm-start portfolio has
        just evaluated; a climb of EI x prior walks up those peaks and, since a taken
        configuration scores minus infinity, stops one step beside one. On ``synthetic``
        (``benchmarks/acquisition_trace.py``) 29% of the proposals after the portfolio sat
        within 0.02 (unit encoding, per dimension) of a tried configuration other than the
        incumbent, against 6% when the same acquisition only ranked drawn candidates: the
        prior term's spread over the candidates was 2 to 3 times the EI term's at every trial
        up to 20, so it, not the task's evidence, decided where the climbs went. The prior
        still weighs every configuration in the final choice (piBO), the climbs' finds
        included, so it steers which region is taken, not how far the optimiser chases it.

        The climbs start from the candidates best under the whole acquisition (a region the
        prior and EI agree on), not from those best under EI alone: climbs from EI's best
        candidates ended far from anything tried (median distance 0.40 on ``synthetic``, in
        regions where the surrogate is unsure) and the sampler with them trailed the one
        without a local search (``random-acq``) at 20 trials (24 pairs, p 0.042); from the
        whole acquisition's best it did not (p 0.22). Beyond :data:`LARGE_SUPPORT` finished
        trials half the starts and half the rounds are used: a suggestion at 1,000 trials
        stays cheap.
        """
        large = support.n_ok > LARGE_SUPPORT
        starts_n = max(self.n_starts // 2, 1) if large else self.n_starts
        order = np.argsort(-scores, kind="stable")
        picks = [int(i) for i in order if np.isfinite(scores[i])][:starts_n]
        ends, ends_ei = local_search(
            [configs[i] for i in picks], ei[picks],
            lambda batch: self.fresh_scores(batch, space, support, prior=False),
            space.flatten, functools.partial(make.move, rng=rng), space.distributions(),
            rng, rounds=MAX_ROUNDS // 2 if large else MAX_ROUNDS)
        return [end for end, value in zip(ends, ends_ei, strict=True) if np.isfinite(value)]

