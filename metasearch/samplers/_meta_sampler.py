"""MetaSampler: the meta-model behind Optuna's sampler API.

The study's own trials are the support set, read afresh for every trial, so any storage and any
number of workers share one history. The only state kept between trials is a cache of what can
never change (finished trials' encodings), per storage object, and each running trial's
proposal until the trial is told. The meta-model is only read (never updated), which is what
makes one instance safe across threads.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from metasearch.errors import MetasearchError
from metasearch.metamodel import (
    ConfigPrior,
    MetaModel,
    Portfolio,
    TaskContext,
    warn_unknown_features,
)
from metasearch.metamodel.surrogates import Predictor, SupportAdapter, TargetBlend, own_gp
from metasearch.samplers._fallback import allowed_draw, known_values
from metasearch.samplers._from_studies import SAMPLER_KINDS, StudiesLike, learn_from_studies
from metasearch.samplers._meta_acquisition import (
    LARGE_SUPPORT,
    Acquisition,
    Candidates,
    prior_trust,
    uniform_flat,
)
from metasearch.samplers._meta_distributions import NOT_MAPPED, map_value, mappable
from metasearch.samplers._meta_loading import resolve_model
from metasearch.samplers._meta_support import (
    NEAR,
    PROPOSAL_ATTR,
    Support,
    SupportCache,
    conditioning_rows,
    config_key,
    encode_trial,
    read_support,
)
from metasearch.samplers._optuna_private import (
    contains,
    set_trial_system_attr,
    storage_of,
    trial_id,
    trials_snapshot,
)
from metasearch.spaces import SearchSpace

__all__ = ["MetaSampler"]

_logger = optuna.logging.get_logger(__name__)

SURROGATE_KINDS = ("surrogate", "rgpe")
FRESH_ROUNDS = 4
"""Extra rounds of uniform candidates when all of a proposal's candidates were taken."""
CLAIM_ROUNDS = 3
"""Proposals a trial writes at most when other workers claimed the same one meanwhile."""
HANDOVER_EVIDENCE = 2
"""Finished trials of its own a study needs before its portfolio can hand over: the transfer
surrogate is weighted by how it ranks the study's trials (RGPE, the target blend), and one
trial ranks nothing."""
MAX_CHOICES = 2048
"""Configurations of a finite space (``choices``) scored per proposal at most: a larger table
is scored on that many of its untried rows, drawn afresh for each proposal."""
STALL_TRIALS = 5
"""Finished trials without a gain that counts (:attr:`Support.stalled`) after which a proposal
may be the study's own GP's (see :meth:`MetaSampler._own_turn`)."""
EXPLORE_FROM = 10
"""Finished trials with a value a study needs before a stall hands a proposal to its own GP
(at least; see :data:`EXPLORE_PER_PARAMETER`): the warm start's trials are the transfer's."""
EXPLORE_PER_PARAMETER = 2
"""...and at least this many per parameter of the model's space: a GP of fewer trials than
twice its inputs knows less of the task than the transfer does (the usual initial design of
GP-based optimisers is one to ten per dimension)."""
HANDOVER_RANK = 0.5
"""The share of the acquisition's own candidates a portfolio pick must score at least as high
as to keep its turn: the median candidate, a typical draw (see :meth:`MetaSampler._keeps_turn`)."""


def default_fallback(seed: int | None) -> BaseSampler:
    """Multivariate, grouped TPE: the cold-start sampler the comparison uses as its baseline."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)


def _key(study: Study, trial: FrozenTrial) -> tuple[int, int]:
    """What a trial's proposal is kept under: its storage and its id there."""
    return id(storage_of(study)), trial_id(trial)


def _choose_past(choose: Callable[[], dict[str, Any] | None], space: SearchSpace,
                 support: Support, skip: int) -> dict[str, Any] | None:
    """The choice after ``skip`` fresh ones (each marked taken); None when none is left."""
    for _ in range(skip):
        passed = choose()
        if passed is None:
            return None
        support.taken.add(config_key(space.encode(passed)))
    return choose()


def _finite(space: SearchSpace, choices: Sequence[Mapping[str, Any]]
            ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """``choices`` validated in ``space`` (those outside it dropped), one per encoding, and
    their encodings, in the given order."""
    kept: dict[tuple[float, ...], tuple[dict[str, Any], np.ndarray]] = {}
    for choice in choices:
        try:
            config = space.validate(dict(choice))
            x = space.encode(config)
        except (MetasearchError, ValueError, TypeError, KeyError):
            continue
        kept.setdefault(config_key(x), (config, x))
    if not kept:
        raise ValueError("choices: none of them is a configuration of the model's space")
    configs = [config for config, _ in kept.values()]
    return configs, np.stack([x for _, x in kept.values()])


class _Adapted(NamedTuple):
    """What one proposal conditions on: the support's conditioning context, the surrogate
    adapted to it (None: the prior alone) and the prior's trust in it (:func:`prior_trust`)."""

    context: TaskContext
    predictor: Predictor | None
    trust: float


def _entropy(seed: int | None) -> int:
    """Seed material for candidate draws: ``seed``, or fresh entropy when None."""
    return int(np.random.SeedSequence(seed).entropy)  # type: ignore[arg-type]


class MetaSampler(BaseSampler):
    """An Optuna sampler that searches a new task with what a meta-model learned from past ones.

    For each trial, the study's finished trials are the support set. The first ``n_warmstart``
    trials are the warm-start portfolio's configurations (Wistuba, Schilling & Schmidt-Thieme,
    "Sequential model-free hyperparameter tuning", ICDM 2015; Feurer et al., "Practical automated
    machine learning for the AutoML challenge 2018" / Auto-sklearn 2.0, JMLR 2022), skipping any
    already tried, queued or running, for as long as the study's own trials do not argue against
    it: from the ``HANDOVER_EVIDENCE``-th finished trial on, the portfolio keeps its turn only
    while the acquisition, conditioned on those trials, scores its next configuration at least as
    high as half of the acquisition's own candidates (see :meth:`_keeps_turn`), so each study's
    portfolio length is decided by its evidence. After that, candidates drawn from the learned
    prior, uniformly, and around the incumbent are ranked by expected improvement under the
    transfer surrogate adapted to the support set, either FSBO's deep-kernel GP (Wistuba &
    Grabocka, "Few-shot Bayesian optimization with deep kernel surrogates", ICLR 2021) or RGPE
    (Feurer, Letham & Bakshy, 2018), multiplied by the prior density raised to ``beta / n`` (piBO:
    Hvarfner et al., "piBO: augmenting acquisition functions with user beliefs for Bayesian
    optimization", ICLR 2022), so the prior's pull fades as trials accumulate. FSBO is blended with
    a GP fitted on the study's own trials, each weighted by how well it ranks them out of sample,
    so the task's evidence takes over as it grows; the prior fades faster, and yields candidates
    to uniform draws, where the study's trials say it ranks them poorly (:func:`prior_trust`); the
    best candidates are polished by local search of the acquisition; a configuration already
    tried, queued or running is never proposed while a fresh one can be found. Once the search
    stalls (:data:`STALL_TRIALS` finished trials without a gain that counts), a GP of the
    study's own values takes turns with the transfer, as often as the blend weights it, until
    the best improves again (:meth:`_own_turn`).

    Parameters outside the model's space (define-by-run) and every parameter when there is no
    model go to ``fallback`` (multivariate TPE by default), which makes a sampler with no model
    a sound cold-start sampler. Where the model's space has forbidden clauses, the fallback's
    draws are drawn again until they break none (see :mod:`._fallback`). Enqueued and fixed
    parameters are honoured: candidates take their values. Multi-objective studies are refused
    with Optuna's ``ValueError``.

    Thread safety: one instance may serve ``n_jobs > 1``; proposing is serialized by a lock and
    each proposal is written to its trial's system attributes before the lock is released, so
    concurrent workers (threads, or processes sharing a storage) skip it. Processes propose at
    the same time, so on a shared storage the claims are read back after writing, and a
    proposal another trial claimed meanwhile is chosen again.

    Cost: finished trials are encoded once and cached per storage; past ``MAX_CONDITIONING``
    (200) finished trials, the surrogate and the prior's task weights condition on that many,
    evenly spaced in rank with the best included (see :func:`conditioning_rows`), so a
    suggestion costs about the same at 1,000 trials as at 200.

    Args:
        model: the meta-model of the task's family; None for cold start.
        task_features: the task's meta-features (weights the portfolio and prior).
        seed: seeds candidate draws and the default fallback.
        n_candidates: candidates scored per proposal.
        n_warmstart: portfolio configurations to try first (at most the portfolio's size).
        fallback: the sampler for everything the model does not cover.
        use_portfolio: use the warm-start portfolio.
        use_prior: use the learned prior (candidates and piBO weight).
        use_surrogate: use the transfer surrogate.
        surrogate_kind: ``surrogate`` (FSBO) or ``rgpe``; None takes the first the model has.
        beta: piBO's prior strength.
        use_target_gp: blend the FSBO surrogate with a GP fitted on the study's own trials,
            weighted by how well each ranks them (see :class:`TargetBlend`); RGPE holds such
            a target GP already.
        optimize_acquisition: polish the best candidates by local search before proposing.
        handover: let the study's own evidence end the portfolio early (see
            :meth:`_keeps_turn`); False always plays ``n_warmstart`` portfolio trials.
        choices: every configuration the objective can evaluate, where that is a finite set
            (a table of measured results: see "Lookup semantics" in the README). The
            acquisition then ranks the untried ones among them (all of them up to
            ``MAX_CHOICES``, else that many drawn each time) instead of drawing and climbing
            in the continuous space, so no proposal is a configuration the table would answer
            by a row already tried. None: the model's space as it is.
        trust_prior: scale the prior's exponent and its share of the candidates by how well
            it ranks the study's trials (:func:`prior_trust`); False keeps piBO's fixed
            ``beta / n`` and half of the candidates (the ``no-trust`` ablation).
        explore: once the search stalls, let a GP of the study's own values take turns with
            the transfer until the best improves again (see :meth:`_own_turn`); False never
            does (the ``no-explore`` ablation).
    """

    def __init__(
        self,
        model: MetaModel | None = None,
        *,
        task_features: Mapping[str, float] | None = None,
        seed: int | None = None,
        n_candidates: int = 256,
        n_warmstart: int = 5,
        fallback: BaseSampler | None = None,
        use_portfolio: bool = True,
        use_prior: bool = True,
        use_surrogate: bool = True,
        surrogate_kind: str | None = None,
        beta: float = 10.0,
        use_target_gp: bool = True,
        optimize_acquisition: bool = True,
        handover: bool = True,
        choices: Sequence[Mapping[str, Any]] | None = None,
        trust_prior: bool = True,
        explore: bool = True,
    ) -> None:
        if surrogate_kind is not None and surrogate_kind not in SURROGATE_KINDS:
            raise ValueError(f"surrogate_kind must be one of {SURROGATE_KINDS} or None, "
                             f"got {surrogate_kind!r}")
        if n_candidates < 1 or n_warmstart < 0:
            raise ValueError(f"need n_candidates >= 1 and n_warmstart >= 0, got "
                             f"{n_candidates!r} and {n_warmstart!r}")
        self._model = model
        self._features = dict(task_features) if task_features is not None else None
        self.unknown_features = warn_unknown_features(
            [getattr(model.get(k), "similarity", None) for k in ("portfolio", "prior")]
            if model is not None else [], self._features)
        self._entropy = _entropy(seed)
        self._n_candidates = n_candidates
        self._n_warmstart = n_warmstart
        self._fallback = fallback if fallback is not None else default_fallback(seed)
        self._portfolio: Portfolio | None = \
            model.get("portfolio") if model and use_portfolio else None
        self._prior: ConfigPrior | None = model.get("prior") if model and use_prior else None
        self._surrogate = self._pick_surrogate(surrogate_kind) if use_surrogate else None
        if use_target_gp and model is not None and self._surrogate is model.get("surrogate") \
                and self._surrogate is not None:
            self._surrogate = TargetBlend(self._surrogate, model.space.encoding_length)
        self._optimize = optimize_acquisition
        self._handover = handover
        self._dists = model.space.distributions() if model is not None else {}
        self._choices = _finite(model.space, choices) if model is not None and choices \
            else None
        self._beta = beta
        self._trust_prior = trust_prior
        self._explore = explore
        self._lock = threading.RLock()
        self._cache = SupportCache()
        self._proposals: dict[tuple[int, int], dict[str, Any]] = {}  # per trial, until told
        self._unmapped: set[str] = set()  # parameters already logged as left to the fallback
        # What the last proposal's support was adapted to (see _adapted_to)
        self._adapted: tuple[Support, _Adapted] | None = None

    def _pick_surrogate(self, kind: str | None) -> SupportAdapter | None:
        return self._model.surrogate(kind) if self._model is not None else None

    @classmethod
    def from_warehouse(
        cls,
        path_or_url: str | Path | None = None,
        *,
        family: str,
        task_features: Mapping[str, float] | None = None,
        model: MetaModel | str | Path | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> MetaSampler:
        """The sampler for ``family`` with its model from the warehouse's ``models/<family>``.

        ``family`` is a registered family or one that exists only in the warehouse (ingested
        Optuna studies or a table). With no path, the default warehouse (or
        ``$METASEARCH_WAREHOUSE``) is used. When no model is named and the default one cannot
        be had (an unknown family, none trained yet, a corrupt one) it warns once
        (:class:`~metasearch.samplers.ColdStartWarning`) and returns a cold-start sampler.

        Raises:
            ModelError: ``model`` (a folder or a loaded model) was named and is missing,
                corrupt, or made for another family or space.
        """
        return cls(resolve_model(path_or_url, family, model), task_features=task_features,
                   seed=seed, **kwargs)

    @classmethod
    def from_studies(
        cls,
        studies: StudiesLike,
        *,
        names: str | Sequence[str] | None = None,
        components: Sequence[str] = SAMPLER_KINDS,
        cache_dir: str | Path | None = None,
        train_seed: int = 0,
        device: str = "auto",
        seed: int | None = None,
        **kwargs: Any,
    ) -> MetaSampler:
        """The sampler meta-learned from past studies: OptunaHub's ``source_studies`` path.

        Each finished study is one past task. Its meta-model (by default a warm-start
        portfolio, a prior and the RGPE transfer surrogate) is learned once and cached under
        a fingerprint of the source trials, so the next build, in any process, only reads it.
        Parameters are matched by name across studies: the widest range on one scale, the
        union of categorical choices; a parameter not in every study is left to ``fallback``;
        one parameter of two kinds is refused.

        Args:
            studies: finished ``optuna.Study`` objects, or a storage URL (or journal file).
            names: with a storage, the study names or globs to read (default: all).
            components: what to learn (``portfolio``, ``prior``, ``surrogate``, ``rgpe``).
            cache_dir: where models are cached (default: ``$METASEARCH_CACHE_DIR``, else the
                user cache folder).
            train_seed: seeds meta-training (part of the cache key; ``seed`` is not).
            device: where to meta-train (``auto``: CUDA when present).
            seed: seeds the sampler's draws, as in the constructor.
            **kwargs: the constructor's other arguments.
        """
        model, _ = learn_from_studies(studies, names=names, kinds=components, seed=train_seed,
                                      cache_dir=cache_dir, device=device)
        return cls(model, seed=seed, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]  # locks do not pickle; each copy gets its own
        del state["_cache"]  # nor do weak references to storages
        state["_proposals"] = {}  # keyed by storage identity: meaningless in another process
        state["_adapted"] = None  # one proposal's, as _proposals
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._cache = SupportCache()

    @property
    def model(self) -> MetaModel | None:
        """The meta-model in use, or None when cold-starting."""
        return self._model

    @property
    def n_warmstart(self) -> int:
        """How many of a study's first trials come from the warm-start portfolio (at most)."""
        return self._n_warmstart if self._portfolio is not None else 0

    # -- Optuna's sampler API ---------------------------------------------------------------

    def reseed_rng(self) -> None:
        with self._lock:
            self._entropy = _entropy(None)
            self._fallback.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._fallback.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        with self._lock:
            self._proposals.pop(_key(study, trial), None)
        self._fallback.after_trial(study, trial, state, values)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        """The model's parameters the study asks for exactly as the model knows them, plus the
        fallback's relative space.

        A model parameter is relative only once the study has asked for it (in any trial, in
        any state) with the model's own distribution: Optuna raises inside the objective when a
        relative value's distribution is incompatible with the one asked for, and a parameter
        never asked for has no distribution to compare yet. Every other model parameter is
        served by :meth:`sample_independent`, which sees the study's distribution and maps the
        model's proposal into it (see :mod:`._meta_distributions`).
        """
        self._raise_error_if_multi_objective(study)
        foreign = self._fallback.infer_relative_search_space(study, trial)
        if not self._dists:
            return foreign
        done = trials_snapshot(study, (TrialState.COMPLETE,))
        if done and not any(n in self._dists for t in done for n in t.params):
            return foreign  # a study of another space: the model has nothing to say
        asked = self._asked(study)
        ours = {n: d for n, d in self._dists.items() if asked.get(n) == d}
        mapped = {n for n, d in asked.items()
                  if n in self._dists and n not in ours and mappable(self._dists[n], d)}
        kept = {n: d for n, d in foreign.items() if n not in ours and n not in mapped}
        return {**kept, **ours}

    def _asked(self, study: Study) -> dict[str, BaseDistribution]:
        """The distribution the study last asked for, per model parameter (newest trial first).

        The newest trials usually name every parameter, so the scan stops after a few.
        """
        trials = trials_snapshot(study)
        asked: dict[str, BaseDistribution] = {}
        for past in reversed(trials):
            for name, dist in past.distributions.items():
                if name in self._dists:
                    asked.setdefault(name, dist)
            if len(asked) == len(self._dists):
                break
        return asked

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """Model parameters from the meta-model; every other one from the fallback."""
        self._raise_error_if_multi_objective(study)
        if not search_space:
            return {}
        ours = {n: d for n, d in search_space.items() if self._dists.get(n) == d}
        params: dict[str, Any] = {}
        if ours:
            params = {k: v for k, v in self._proposal(study, trial).items() if k in ours}
        rest = {n: d for n, d in search_space.items() if n not in params}
        if rest:
            params.update(self._allowed(trial, params, lambda: self._fallback_relative(
                study, trial, rest)))
        return params

    def _fallback_relative(self, study: Study, trial: FrozenTrial,
                           rest: dict[str, BaseDistribution]) -> dict[str, Any]:
        """One draw of the fallback for every parameter of ``rest``."""
        params = self._fallback.sample_relative(study, trial, rest)
        for name, dist in rest.items():
            if name not in params:
                params[name] = self._fallback.sample_independent(study, trial, name, dist)
        return params

    def _allowed(self, trial: FrozenTrial, chosen: Mapping[str, Any],
                 draw: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``draw()``, drawn again while it would make a forbidden configuration (see
        :mod:`._fallback`): the fallback sampler knows no forbidden clauses."""
        space = self._model.space if self._model is not None else None
        known = {**known_values(trial, self._dists), **chosen}
        return allowed_draw(space, known, draw, (self._entropy, trial.number))

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        """A model parameter asked for under another distribution gets the model's proposal
        mapped into it where that is sound; everything else comes from the fallback."""
        self._raise_error_if_multi_objective(study)
        model_dist = self._dists.get(param_name)
        if model_dist is not None and model_dist != param_distribution:
            value = self._mapped(study, trial, param_name, model_dist, param_distribution)
            if value is not NOT_MAPPED:
                return value
        elif model_dist is not None:
            value = self._proposal(study, trial).get(param_name, NOT_MAPPED)
            if value is not NOT_MAPPED and contains(param_distribution, value):
                return value
            return self._allowed(trial, {}, lambda: {param_name: self._fallback.sample_independent(
                study, trial, param_name, param_distribution)})[param_name]
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def _mapped(self, study: Study, trial: FrozenTrial, name: str, model: BaseDistribution,
                asked: BaseDistribution) -> Any:
        """The proposal's ``name`` carried into ``asked``, or NOT_MAPPED (logged once)."""
        if not mappable(model, asked):
            if name not in self._unmapped:
                self._unmapped.add(name)
                _logger.debug(f"MetaSampler: the study asks for {name!r} as {asked}, which the "
                              f"model's {model} does not map into; the fallback samples it.")
            return NOT_MAPPED
        value = self._proposal(study, trial).get(name, NOT_MAPPED)
        return NOT_MAPPED if value is NOT_MAPPED else map_value(value, model, asked)

    def _proposal(self, study: Study, trial: FrozenTrial) -> dict[str, Any]:
        """This trial's proposal over the whole model space (made once, then remembered)."""
        key = _key(study, trial)
        with self._lock:
            if key not in self._proposals:
                try:
                    self._proposals[key] = self._propose(study, trial, dict(self._dists))
                except (MetasearchError, ValueError) as exc:  # never fail the user's trial
                    _logger.warning(f"MetaSampler: no proposal for trial {trial.number} "
                                    f"({exc}); the fallback samples it.")
                    self._proposals[key] = {}
            return self._proposals[key]

    # -- proposing ----------------------------------------------------------------------------

    def _propose(self, study: Study, trial: FrozenTrial,
                 ours: dict[str, BaseDistribution]) -> dict[str, Any]:
        """Flat values of ``ours`` for ``trial``, recorded on the trial; {} to defer."""
        if self._model is None:
            return {}
        space = self._model.space
        fixed = {k: v for k, v in trial.system_attrs.get("fixed_params", {}).items()
                 if k in self._dists and contains(self._dists[k], v)}
        if set(ours) <= set(fixed):
            return {}
        trials = study.get_trials(deepcopy=False)
        cache = self._cache.of(storage_of(study))
        support = read_support(space, study, trials, trial.number,
                               cache)
        rank = sum(1 for t in trials
                   if t.number < trial.number and "fixed_params" not in t.system_attrs)
        rng = np.random.default_rng([self._entropy, trial.number])

        def choose() -> dict[str, Any] | None:
            return self._warm_start(space, support, fixed, rank, rng) \
                or self._acquire(space, support, fixed, rng)

        config = self._claim(study, trial, space, support, choose)
        if config is None:
            return {}
        flat = space.flatten(config)
        # Parameters the proposal leaves inactive get a value too, in case the objective asks
        # for them anyway (Optuna only records what the objective suggests).
        filler = uniform_flat({n: d for n, d in ours.items() if n not in flat}, rng)
        return {k: v for k, v in {**filler, **flat}.items() if k in ours}

    def _claim(self, study: Study, trial: FrozenTrial, space: SearchSpace, support: Support,
               choose: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        """``choose()``'s configuration, written as ``trial``'s proposal and checked unclaimed.

        The lock serializes one process's threads, but worker processes sharing a storage
        propose at the same time from the same trials, and on a small space their acquisitions
        agree. So the claims of a shared storage are read back after writing the proposal:
        where another trial holds the same configuration, its claims join ``support.taken``
        and the trial chooses again. Of two writers the later always reads the earlier's
        claim, so at least one of them moves; and since both may, and would then agree again,
        each passes over one fresh choice per running rival numbered below it. At most
        ``CLAIM_ROUNDS`` rounds.
        """
        config = choose()
        for _ in range(CLAIM_ROUNDS):
            if config is None:
                return None
            taken, ahead = self._write_proposal(study, trial, space, config)
            if config_key(space.encode(config)) not in taken:
                return config
            support.taken |= taken
            again = _choose_past(choose, space, support, ahead)
            if again is None:  # nothing fresh is left: keep the written one
                return config
            config = again
        if config is not None:
            self._write_proposal(study, trial, space, config, read_back=False)
        return config

    def _write_proposal(self, study: Study, trial: FrozenTrial, space: SearchSpace,
                        config: dict[str, Any], read_back: bool = True
                        ) -> tuple[set[tuple[float, ...]], int]:
        """Record ``config`` as ``trial``'s proposal. Then read back the claims of every other
        trial, and count the running trials numbered below ``trial`` that claim ``config``.

        An in-memory storage serves one process, whose proposals the lock has serialized, so
        nothing is read back from it (nor with ``read_back`` False).
        """
        set_trial_system_attr(study, trial, PROPOSAL_ATTR, space.flatten(config))
        if not read_back or isinstance(storage_of(study), optuna.storages.InMemoryStorage):
            return set(), 0
        trials = study.get_trials(deepcopy=False)
        cache = self._cache.of(storage_of(study))
        taken = read_support(space, study, trials, trial.number, cache).taken
        key = config_key(space.encode(config))

        def claims(t: FrozenTrial) -> frozenset[tuple[float, ...]]:
            # read_support has just encoded every trial through the cache
            return (cache.encoded(space, t) if cache is not None else encode_trial(space, t)).keys

        ahead = sum(1 for t in trials if t.state == TrialState.RUNNING
                    and t.number < trial.number and key in claims(t))
        return taken, ahead

    def _context(self, support: Support | None = None) -> TaskContext:
        """The task context; with ``support``, its conditioning subset (all up to the cap)."""
        if support is None:
            return TaskContext(meta_features=self._features)
        rows = conditioning_rows(support.scores)
        return TaskContext(meta_features=self._features, x=support.x[rows],
                           scores=support.scores[rows])

    def _warm_start(self, space: SearchSpace, support: Support, fixed: Mapping[str, Any],
                    rank: int, rng: np.random.Generator) -> dict[str, Any] | None:
        """Portfolio configuration number ``rank``, or the next one nobody has taken; None once
        the portfolio has handed the study over to the acquisition.

        ``rank`` counts the study's earlier trials that were not enqueued. Trial numbers are
        handed out atomically by the storage, so concurrent workers (threads or processes)
        get distinct ranks and hence distinct configurations without talking to each other.
        The portfolio is weighted by the task's meta-features only, not by its trials, so it
        is one fixed list that every worker reads alike. A handover is for good: a portfolio
        configuration before ``rank`` that no trial holds means an earlier trial was the
        acquisition's, and every later one is too.
        """
        if self._portfolio is None or fixed or rank >= self._n_warmstart:
            return None
        configs = self._portfolio.configs(self._n_warmstart, self._context())
        fresh = [config_key(space.encode(c)) not in support.taken and space.allows(c)
                 for c in configs]
        pick = next((c for c, ok in zip(configs[rank:], fresh[rank:], strict=True) if ok),
                    None)
        if pick is None or (self._handover and (
                any(fresh[:rank]) or not self._keeps_turn(space, support, pick, rng))):
            return None
        return dict(pick)

    def _keeps_turn(self, space: SearchSpace, support: Support, pick: Mapping[str, Any],
                    rng: np.random.Generator) -> bool:
        """Whether the portfolio's next configuration ``pick`` still goes before the
        acquisition's: True until the study has ``HANDOVER_EVIDENCE`` finished trials, then
        while the acquisition, conditioned on them, scores ``pick`` at least as high as half
        of the candidates it draws for itself (prior, uniform and local draws).

        The portfolio is the best first trials for a task drawn like the past ones (Wistuba
        et al., ICDM 2015); its later picks cover past tasks the earlier ones left behind,
        which pays only if the new task resembles those. The acquisition is the same past
        tasks updated by the study's own trials (RGPE weights each past task by how well it
        ranks them; FSBO conditions its kernel on them), so the portfolio's picks are judged
        as candidates of the acquisition, as any other configuration. Not against the
        acquisition's own maximum, which always wins (it is the maximum of that very score,
        over hundreds of candidates polished by local search: the optimizer's curse), but
        against the typical candidate: a pick the evidence ranks in the bottom half of the
        acquisition's own draws has lost the case the portfolio made for it, and the study is
        handed over. The rank is free of the acquisition's units, which differ by surrogate.
        """
        if support.n_ok < HANDOVER_EVIDENCE:
            return True
        adapted = self._adapted_to(support)
        if adapted.predictor is None:
            return True
        make = Candidates(space, {})
        pool = self._candidate_pool(space, make, support, adapted, rng)
        acquisition = Acquisition(adapted.predictor, self._prior, adapted.context, self._beta,
                                  trust=adapted.trust)
        rank = acquisition.share_below(space.encode(pick), space.encode_many(pool, validated=True),
                                       support)
        if rank < HANDOVER_RANK:
            _logger.debug(f"MetaSampler: the portfolio hands over after {support.n_ok} "
                          f"trials (the acquisition ranks its next pick above {rank:.0%} of "
                          "its own candidates).")
        return rank >= HANDOVER_RANK

    def _acquire(self, space: SearchSpace, support: Support, fixed: Mapping[str, Any],
                 rng: np.random.Generator) -> dict[str, Any] | None:
        """The best fresh candidate under the acquisition; None when nothing can score them.

        Without a surrogate, the first fresh prior draw is the proposal (sampling from the
        prior, as piBO does before any evidence).
        """
        if self._surrogate is None and self._prior is None:
            return None
        adapted = self._adapted_to(support)
        finite = self._choices is not None and not fixed
        own = None if finite else self._own_turn(support, adapted)
        if own is not None:
            adapted = _Adapted(adapted.context, own, 0.0)
        make = Candidates(space, fixed)
        pool = self._candidate_pool(space, make, support, adapted, rng)
        prior = self._prior if adapted.predictor is not None and own is None else None
        acquisition = Acquisition(adapted.predictor, prior, adapted.context, self._beta,
                                  self._optimize and not finite, trust=adapted.trust,
                                  near=0.0 if finite else NEAR)
        found = acquisition.best(pool, space, support, make, rng)
        if finite:  # every choice scored: none left means the table is covered
            return found
        for _ in range(FRESH_ROUNDS):  # every candidate taken: a small space nearly covered
            if found is not None:
                break
            more = make.draw([space.sample(rng) for _ in range(self._n_candidates)], rng)
            found = acquisition.best(more, space, support, make, rng)
        return found

    def _own_turn(self, support: Support, adapted: _Adapted) -> Predictor | None:
        """The GP of the study's own values (:func:`own_gp`) when this proposal is its turn;
        else None.

        A transfer search that stalls keeps proposing where the past tasks and the blend agree: on
        ``yahpo-rbv2_rpart`` it refined one region for 25 trials by steps of a tenth of a point
        while Optuna's ``GPSampler`` left it for the space's other end (the ninth pass in
        ``docs/issue-13-passes.md``). So once the study has :data:`EXPLORE_FROM` values, and
        :data:`EXPLORE_PER_PARAMETER` per parameter of the model's space, and its last
        :data:`STALL_TRIALS` finished trials have not improved the best by a step that counts
        (:attr:`Support.stalled`), each proposal is the own GP's (expected improvement in the
        values' own units, uniform and local candidates, no prior) with the probability the
        blend gives its target GP: the share of leave-one-out samples in which a GP of the
        study alone ranks the study's trials better than the transfer surrogate
        (:func:`loo_rank_weights`). Where the transfer still ranks them best, as on
        ``synthetic``, it keeps most turns: handing every stalled proposal over cost regret
        there (tenth pass). The coin is seeded by the sampler's seed and the study's size, not
        drawn from the candidates' stream, so a proposal the transfer keeps is the one it
        would have made without this rule.

        None before a stall, without a target GP in the blend (``no-target-gp``, RGPE, a
        prior alone) or with ``explore=False``; and never asked on a finite space
        (``choices``), where the acquisition ranks every untried row: on ``lcbench-table``
        and ``taskset`` (three folds) the turns delayed the optimum the transfer reached by
        25 trials in 20 of 80 pairs and bought nothing by 100 (tenth pass).
        """
        if not self._explore or support.stalled < STALL_TRIALS \
                or support.n_ok < max(EXPLORE_FROM, EXPLORE_PER_PARAMETER * len(self._dists)):
            return None
        weights = getattr(adapted.predictor, "weights", None)
        if weights is None or getattr(adapted.predictor, "target", None) is None:
            return None
        coin = np.random.default_rng([self._entropy, len(support.taken), 1]).random()
        if coin >= float(weights[1]):
            return None
        assert self._model is not None  # a predictor was adapted
        try:
            gp = own_gp(adapted.context, self._model.space.encoding_length)
        except (MetasearchError, ValueError, np.linalg.LinAlgError) as exc:
            _logger.debug(f"MetaSampler: no GP of the study's own values ({exc}).")
            return None
        if gp is not None:
            _logger.debug(f"MetaSampler: {support.stalled} trials without a gain; a GP of the "
                          "study's own values proposes.")
        return gp

    def _adapted_to(self, support: Support) -> _Adapted:
        """``support``'s conditioning context, the surrogate adapted to it and the prior's
        trust in it, once per proposal.

        A handover trial asks twice: the portfolio's check (:meth:`_keeps_turn`) and then the
        acquisition that takes over, both conditioned on the same trials; so are a claim's
        second choices. Adapting is the costly step of a proposal (a GP per past task for
        RGPE), so it is kept for the ``Support`` object it was made from (one per proposal,
        made under the lock) and never reused for another.
        """
        if self._adapted is None or self._adapted[0] is not support:
            context = self._context(support)
            self._adapted = (support, _Adapted(context, self._adapt(context),
                                               self._trust(context)))
        return self._adapted[1]

    def _trust(self, context: TaskContext) -> float:
        """The prior's trust in ``context`` (:func:`prior_trust`); 1 without ``trust_prior``."""
        return prior_trust(self._prior, context) if self._trust_prior else 1.0

    def _adapt(self, context: TaskContext) -> Predictor | None:
        """The surrogate adapted to the support set; None (prior only) when it cannot adapt."""
        if self._surrogate is None:
            return None
        try:
            return self._surrogate.adapt(context)
        except (MetasearchError, ValueError, np.linalg.LinAlgError) as exc:
            _logger.warning(f"MetaSampler: the surrogate could not adapt ({exc}); "
                            "sampling from the prior for this trial.")
            return None

    def _candidate_pool(self, space: SearchSpace, make: Candidates, support: Support,
                        adapted: _Adapted, rng: np.random.Generator) -> list[dict[str, Any]]:
        """Prior draws (half, times the prior's trust), local moves around the incumbent (a
        quarter), uniform draws (the rest); on a finite space (``choices``, nothing fixed) its
        untried configurations instead.

        The prior's share shrinks with its trust (:func:`prior_trust`) for the reason its
        exponent does: where the task's trials say the prior misranks them, its draws crowd
        the pool into the region it favours, and uniform draws search the rest. Beyond
        :data:`LARGE_SUPPORT` finished trials the pool is half as large, as the local search's
        starts are: drawing and scoring it were a third of a suggestion's cost at 1,000
        trials, where the acquisition's landscape is known well (TPE scores 24 candidates)."""
        if self._choices is not None and not make.fixed:
            return self._untried(support, rng)
        n = self._n_candidates
        if support.n_ok > LARGE_SUPPORT:
            n = max(n // 2, 1)
        pool: list[dict[str, Any]] = []
        if self._prior is not None:
            share = max(round(n // 2 * adapted.trust), 1)
            pool += make.draw(self._prior.sample(share, rng, adapted.context), rng)
        if support.best_params is not None:
            pool += make.local(support.best_params, n // 4, rng)
        pool += make.draw([space.sample(rng) for _ in range(max(n - len(pool), 1))], rng)
        return pool

    def _untried(self, support: Support, rng: np.random.Generator) -> list[dict[str, Any]]:
        """The configurations of ``choices`` no trial has taken, in their order; at most
        ``MAX_CHOICES`` of them, drawn without replacement."""
        assert self._choices is not None
        configs, encodings = self._choices
        fresh = np.flatnonzero(support.fresh(encodings))
        if len(fresh) > MAX_CHOICES:
            fresh = np.sort(rng.choice(fresh, MAX_CHOICES, replace=False))
        return [configs[i] for i in fresh]
