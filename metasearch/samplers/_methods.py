"""Samplers, pruners and the methods of a comparison, by name: one registry, one entry each.

``metasearch run --sampler/--pruner`` and ``metasearch compare --methods`` build what they
search with from here, so a sampler means the same thing in both, and a new baseline is one
entry: a name, a line saying what it is (it reaches ``--help`` and the report) and a builder.
Nothing heavy is imported until a builder runs: the command line lists the names at startup.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from metasearch.errors import MetasearchError

if TYPE_CHECKING:
    import optuna

    from metasearch.metamodel import MetaModel
    from metasearch.samplers._warm_start import WarmStart
    from metasearch.spaces import SearchSpace

__all__ = [
    "METHODS",
    "PRUNERS",
    "SAMPLERS",
    "Built",
    "MethodSpec",
    "Named",
    "SearchInputs",
    "build_method",
    "build_pruner",
    "build_sampler",
    "lookup",
]

T = TypeVar("T")


@dataclass(frozen=True)
class SearchInputs:
    """What a sampler, pruner or method may be built from; each reads what it needs.

    Attributes:
        seed: the sampler's seed.
        model: the family's meta-model (None: a ``meta`` sampler cold-starts).
        task_features: the searched task's meta-features.
        space: the family's search space.
        max_budget: the family's steps per trial (a pruner has nothing to stop at 1).
        warm: what the warm-start baselines take from the most similar training task.
        choices: the task's configurations where it can only evaluate a finite set
            (:meth:`~metasearch.families.Task.configurations`); MetaSampler searches those.
    """

    seed: int | None = None
    model: MetaModel | None = None
    task_features: Mapping[str, float] | None = None
    space: SearchSpace | None = None
    max_budget: int = 1
    warm: WarmStart | None = None
    choices: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Named(Generic[T]):
    """A builder and the line that says what it builds."""

    description: str
    build: Callable[..., T]


@dataclass(frozen=True)
class Built:
    """A search's sampler, its pruner (None: none) and the trials to enqueue first."""

    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner | None = None
    enqueue: list[dict[str, Any]] = field(default_factory=list)


# -- samplers ----------------------------------------------------------------------------------


def _quiet(make: Callable[[], T]) -> T:
    """``make()`` without Optuna's ExperimentalWarning (multivariate TPE, source trials)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return make()


def _meta(inputs: SearchInputs, **options: Any) -> optuna.samplers.BaseSampler:
    from metasearch.samplers._meta_sampler import MetaSampler

    settings = {"task_features": inputs.task_features, "choices": inputs.choices, **options}
    return _quiet(lambda: MetaSampler(inputs.model, seed=inputs.seed, **settings))


def _tpe(inputs: SearchInputs) -> optuna.samplers.BaseSampler:
    import optuna

    # multivariate + group model the conditional momentum and the cell edges jointly.
    return _quiet(lambda: optuna.samplers.TPESampler(seed=inputs.seed, multivariate=True,
                                                      group=True))


def _random(inputs: SearchInputs) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=inputs.seed)


def _gp(inputs: SearchInputs) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.GPSampler(seed=inputs.seed)


def _cmaes(inputs: SearchInputs) -> optuna.samplers.BaseSampler:
    import optuna

    # Cells are categorical, which CMA-ES cannot search: it hands them to its independent
    # sampler, and the warning for every such parameter would drown the progress bar.
    return optuna.samplers.CmaEsSampler(seed=inputs.seed, warn_independent_sampling=False)


SAMPLERS: dict[str, Named[optuna.samplers.BaseSampler]] = {
    "meta": Named("MetaSampler with the family's meta-model", _meta),
    "tpe": Named("Optuna TPESampler (multivariate, grouped)", _tpe),
    "random": Named("Optuna RandomSampler", _random),
    "gp": Named("Optuna GPSampler", _gp),
    "cmaes": Named("Optuna CmaEsSampler (independent sampling for categoricals)", _cmaes),
}
"""Every sampler by name (``meta`` reads the meta-model; the others start cold)."""


def build_sampler(name: str, inputs: SearchInputs, **options: Any
                  ) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` (``options`` go to MetaSampler); MetasearchError if unknown."""
    return lookup(SAMPLERS, name, "sampler").build(inputs, **options)


# -- pruners -----------------------------------------------------------------------------------


def _meta_pruner(inputs: SearchInputs) -> optuna.pruners.BasePruner:
    from metasearch.samplers._meta_pruner import MetaPruner

    return MetaPruner(inputs.model, task_features=inputs.task_features)


def _median(inputs: SearchInputs) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.MedianPruner(n_warmup_steps=2)


PRUNERS: dict[str, Named[optuna.pruners.BasePruner | None]] = {
    "none": Named("no pruning", lambda inputs: None),
    "meta": Named("MetaPruner with the family's learning-curve model", _meta_pruner),
    "median": Named("Optuna MedianPruner after two steps", _median),
}
"""Every pruner by name."""


def build_pruner(name: str, inputs: SearchInputs) -> optuna.pruners.BasePruner | None:
    """The pruner ``name`` (None for ``none``); MetasearchError if unknown."""
    return lookup(PRUNERS, name, "pruner").build(inputs)


def lookup(table: Mapping[str, Named[T]], name: str, kind: str) -> Named[T]:
    """``table[name]``, or a MetasearchError naming the ``kind`` asked for and the choices."""
    if name not in table:
        raise MetasearchError(f"unknown {kind} {name!r}: expected one of {', '.join(table)}")
    return table[name]


# -- the methods of a comparison ---------------------------------------------------------------


@dataclass(frozen=True)
class MethodSpec:
    """A method of the comparison.

    Attributes:
        name: the name used in ``--methods``, ``runs.csv`` and the report.
        group: ``metasearch``, ``ablation``, ``cold-start`` or ``warm-start``.
        description: one line for the report and ``--help``.
        uses_model: whether the method reads the meta-model (so needs a held-out one).
        build: its sampler, pruner and first trials from the run's inputs.
    """

    name: str
    group: str
    description: str
    uses_model: bool
    build: Callable[[SearchInputs], Built]


def _metasearch(name: str, group: str, description: str, *, prune: bool = True,
                needs: str | None = None, **switches: Any) -> MethodSpec:
    """MetaSampler with ``switches``, and MetaPruner where ``prune`` and the model allow.

    The sampler's own ablations run without the pruner (``prune=False``) and are measured
    against ``no-pruner``, since a pruner that stops most trials early hides what the sampler
    proposes.
    """

    def build(inputs: SearchInputs) -> Built:
        if needs is not None and inputs.model is not None and inputs.model.get(needs) is None:
            raise MetasearchError(f"method {name!r} needs a model with the {needs} component")
        sampler = build_sampler("meta", inputs, **switches)
        pruner = None
        if prune and inputs.max_budget > 1 and inputs.model is not None \
                and inputs.model.get("curves") is not None:
            features = switches.get("task_features", inputs.task_features)
            pruner = build_pruner("meta", SearchInputs(model=inputs.model,
                                                       task_features=features))
        return Built(sampler, pruner)

    return MethodSpec(name, group, description, True, build)


def _cold(name: str) -> MethodSpec:
    """The cold-start sampler ``name``, unpruned, as the registry describes it."""
    return MethodSpec(name, "cold-start", SAMPLERS[name].description, False,
                      lambda inputs: Built(build_sampler(name, inputs)))


def _ws_cmaes(inputs: SearchInputs) -> Built:
    from metasearch.samplers._warm_start import WarmStartCmaEs

    warm, space = _warm(inputs, "ws-cmaes"), inputs.space
    if space is None:
        raise MetasearchError("method 'ws-cmaes' needs the family's search space")
    return Built(WarmStartCmaEs(warm.source, space.distributions(), inputs.seed or 0))


def _ws_tpe(inputs: SearchInputs) -> Built:
    warm = _warm(inputs, "ws-tpe")
    return Built(build_sampler("tpe", inputs), None, [dict(p) for p in warm.best])


def _warm(inputs: SearchInputs, name: str) -> WarmStart:
    if inputs.warm is None:
        raise MetasearchError(f"method {name!r} needs the most similar training task's trials")
    return inputs.warm


METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    _metasearch("metasearch", "metasearch", "MetaSampler (portfolio, prior, FSBO surrogate) "
                "and MetaPruner"),
    _metasearch("no-warmstart", "ablation", "metasearch without the warm-start portfolio",
                use_portfolio=False),
    _metasearch("no-handover", "ablation", "metasearch playing the whole warm-start "
                "portfolio (no handover to the acquisition by the study's own trials)",
                handover=False),
    _metasearch("no-prior", "ablation", "metasearch without the learned prior",
                use_prior=False),
    _metasearch("no-surrogate", "ablation", "metasearch without the transfer surrogate "
                "(prior draws only)", use_surrogate=False),
    _metasearch("rgpe-surrogate", "ablation", "metasearch with RGPE (gradient-free) instead "
                "of the FSBO deep-kernel surrogate", needs="rgpe", surrogate_kind="rgpe"),
    _metasearch("no-pruner", "ablation", "metasearch without MetaPruner", prune=False),
    _metasearch("no-features", "ablation", "metasearch without the task's meta-features "
                "(uniform warm start and prior; trials still weigh past tasks)",
                task_features=None),
    _metasearch("no-target-gp", "ablation", "no-pruner without the target-only GP blended "
                "into the FSBO surrogate (the meta-learned surrogate alone)", prune=False,
                use_target_gp=False),
    _metasearch("random-acq", "ablation", "no-pruner taking the best of the random "
                "candidates, without local search of the acquisition", prune=False,
                optimize_acquisition=False),
    _metasearch("no-trust", "ablation", "no-pruner fading the prior by piBO's beta / n alone, "
                "not also by how well it ranks the study's trials", prune=False,
                trust_prior=False),
    _metasearch("no-explore", "ablation", "no-pruner never handing a stalled search to the "
                "GP fitted on the study's own trials", prune=False, explore=False),
    _cold("random"),
    _cold("tpe"),
    _cold("gp"),
    _cold("cmaes"),
    MethodSpec("ws-cmaes", "warm-start", "WS-CMA-ES: CmaEsSampler(source_trials=) from the "
               "most similar training task", True, _ws_cmaes),
    MethodSpec("ws-tpe", "warm-start", "the 5 best configurations of the most similar "
               "training task enqueued, then TPE", True, _ws_tpe),
)}
"""Every method ``metasearch compare`` runs: metasearch, its ablations and the baselines."""


def build_method(name: str, inputs: SearchInputs) -> Built:
    """The sampler, pruner and first trials of method ``name`` for one run.

    Raises:
        MetasearchError: an unknown method, or a model-based method without a model.
    """
    spec = METHODS.get(name)
    if spec is None:
        raise MetasearchError(f"unknown method {name!r}: expected one of {', '.join(METHODS)}")
    if spec.uses_model and inputs.model is None:
        raise MetasearchError(f"method {name!r} needs a meta-model")
    return spec.build(inputs)
