"""The meta-model: the fitted components of one family, trained together and saved as one.

This is the only place that wires components together (as SMAC's facades are): it fits each
chosen component on the training tasks of an explicit split, early-stopping on the validation
tasks, and saves them all in one artifact. Every component is optional, which is how the
comparison report ablates them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from metasearch._version import __version__
from metasearch.errors import MetasearchError
from metasearch.metamodel._artifact import ModelError, read_artifact, write_artifact
from metasearch.metamodel._component import Component, FitReport
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._portfolio import Portfolio
from metasearch.metamodel._prior import ConfigPrior
from metasearch.metamodel._similarity import TaskSimilarity
from metasearch.metamodel._split import TaskSplit
from metasearch.metamodel.curves import CurveConfig, CurveModel
from metasearch.metamodel.surrogates import RGPESurrogate
from metasearch.spaces import SearchSpace

if TYPE_CHECKING:  # FSBO imports torch; only its name is needed here
    from metasearch.metamodel.surrogates import FSBOSurrogate

__all__ = ["COMPONENT_KINDS", "MetaModel", "component_class"]

ComponentFactory = Callable[[int, str], Component]


def _portfolio(seed: int, device: str) -> Component:
    return Portfolio(seed=seed)


def _prior(seed: int, device: str) -> Component:
    return ConfigPrior(seed=seed)


def _surrogate(seed: int, device: str) -> Component:
    # Lazy on purpose: FSBO imports torch, which a model without it never needs to load.
    from metasearch.metamodel.surrogates import FSBOConfig, FSBOSurrogate

    return FSBOSurrogate(FSBOConfig(seed=seed), device=device)


def _rgpe(seed: int, device: str) -> Component:
    return RGPESurrogate(seed=seed)


def _curves(seed: int, device: str) -> Component:
    return CurveModel(CurveConfig(seed=seed), device=device)


_FACTORIES: dict[str, ComponentFactory] = {
    "portfolio": _portfolio,
    "prior": _prior,
    "surrogate": _surrogate,
    "rgpe": _rgpe,
    "curves": _curves,
}
COMPONENT_KINDS: tuple[str, ...] = tuple(_FACTORIES)
"""Every component a meta-model can hold, in training order."""


_CLASSES: dict[str, tuple[str, str]] = {
    "portfolio": ("metasearch.metamodel._portfolio", "Portfolio"),
    "prior": ("metasearch.metamodel._prior", "ConfigPrior"),
    "surrogate": ("metasearch.metamodel.surrogates", "FSBOSurrogate"),
    "rgpe": ("metasearch.metamodel.surrogates", "RGPESurrogate"),
    "curves": ("metasearch.metamodel.curves", "CurveModel"),
}


def component_class(kind: str) -> type[Component]:
    """The class of component ``kind`` (an unknown kind names the valid ones)."""
    if kind not in _CLASSES:
        raise MetasearchError(f"unknown component {kind!r}: expected one of "
                              f"{', '.join(COMPONENT_KINDS)}")
    module, name = _CLASSES[kind]
    found: type[Component] = getattr(importlib.import_module(module), name)
    return found


@dataclass
class MetaModel:
    """The components fitted for one family, with the split and data they were fitted on.

    Attributes:
        family: the family name.
        space: the family's search space (the model refuses any other).
        direction: ``maximize`` or ``minimize``.
        max_budget: curve length the curve model was trained for.
        split: the task split; test tasks never reached any component.
        components: fitted components by kind.
        reports: each component's fit report.
        info: everything else recorded in the artifact (warehouse snapshot, timings).
    """

    family: str
    space: SearchSpace
    direction: str
    max_budget: int
    split: TaskSplit
    components: dict[str, Component] = field(default_factory=dict)
    reports: dict[str, FitReport] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @overload
    def get(self, kind: Literal["portfolio"]) -> Portfolio | None: ...
    @overload
    def get(self, kind: Literal["prior"]) -> ConfigPrior | None: ...
    @overload
    def get(self, kind: Literal["surrogate"]) -> FSBOSurrogate | None: ...
    @overload
    def get(self, kind: Literal["rgpe"]) -> RGPESurrogate | None: ...
    @overload
    def get(self, kind: Literal["curves"]) -> CurveModel | None: ...
    @overload
    def get(self, kind: str) -> Component | None: ...

    def get(self, kind: str) -> Component | None:
        """The component ``kind``, or None when the model was trained without it.

        Typed by kind (``model.get("prior")`` is a :class:`ConfigPrior`), so callers use a
        component's own API with the type checker's help; a kind held in a variable gets the
        :class:`Component` base.
        """
        return self.components.get(kind)

    def similarity(self) -> TaskSimilarity | None:
        """How the model weighs past tasks for a new one: the portfolio's task similarity,
        else the prior's, where it knows any past task (``suggest`` and compare's nearest-task
        baseline rank past tasks by it)."""
        for component in (self.get("portfolio"), self.get("prior")):
            if component is not None and component.similarity.task_ids:
                return component.similarity
        return None

    def surrogate(self, kind: str | None = None) -> FSBOSurrogate | RGPESurrogate | None:
        """The transfer surrogate ``kind`` (``surrogate``: FSBO; ``rgpe``), or None when the
        model lacks it; without a kind, FSBO where the model has it, else RGPE.

        Raises:
            ModelError: ``kind`` is neither.
        """
        fsbo, rgpe = self.get("surrogate"), self.get("rgpe")
        if kind not in (None, "surrogate", "rgpe"):
            raise ModelError(f"unknown surrogate kind {kind!r}: expected 'surrogate' or 'rgpe'")
        if kind is None:
            return fsbo if fsbo is not None else rgpe
        return fsbo if kind == "surrogate" else rgpe

    def without(self, *kinds: str) -> MetaModel:
        """The same model with components switched off (for ablations)."""
        kept = {k: c for k, c in self.components.items() if k not in kinds}
        return MetaModel(self.family, self.space, self.direction, self.max_budget, self.split,
                         kept, dict(self.reports), dict(self.info))

    @classmethod
    def train(
        cls,
        data: MetaDataset,
        split: TaskSplit,
        *,
        kinds: Iterable[str] | None = None,
        seed: int = 0,
        device: str = "cpu",
        on_component: Callable[[str, FitReport], None] | None = None,
        on_skip: Callable[[str, str], None] | None = None,
    ) -> MetaModel:
        """Fit each component in ``kinds`` on ``split.train``, early-stopping on validation.

        Test tasks are dropped from ``data`` before anything is fitted. With ``kinds`` None
        (every component), one the data cannot feed (curves from history with one value per
        trial, surrogates from tasks with too few trials) is skipped and ``on_skip(kind,
        reason)`` says why; the reasons are kept in ``info["skipped"]``. A component named in
        ``kinds`` must be trainable. Validation tasks are used by a component only where they
        have what it needs (else it trains without early stopping).

        Raises:
            MetasearchError: a named component the data cannot feed, or none left to train.
        """
        chosen = list(dict.fromkeys(COMPONENT_KINDS if kinds is None else kinds))
        for kind in chosen:
            component_class(kind)
        split.check_known(data.task_ids)
        train = data.subset([t for t in split.train if t in data.tasks])
        validation = data.subset(split.validation) if split.validation else None
        model = cls(data.family, data.space, data.direction, data.max_budget, split)
        skipped: dict[str, str] = {}
        for kind in chosen:
            component = _FACTORIES[kind](seed, device)
            reason = component.lacks(train)
            if reason is not None:
                if kinds is not None:
                    raise MetasearchError(f"cannot train {kind} on family {data.family!r}: "
                                          f"{reason}")
                skipped[kind] = reason
                if on_skip is not None:
                    on_skip(kind, reason)
                continue
            usable = (validation if validation is not None and component.lacks(validation) is None
                      else None)
            report = component.fit(train, usable)
            model.components[kind] = component
            model.reports[kind] = report
            if on_component is not None:
                on_component(kind, report)
        if skipped and not model.components:
            raise MetasearchError(f"no component can be trained on family {data.family!r}: "
                                  + "; ".join(f"{k}: {r}" for k, r in skipped.items()))
        model.info["skipped"] = skipped
        model.info["trained_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        model.info["train_trials"] = int(sum(h.n_trials for h in train.tasks.values()))
        return model

    # -- the artifact -------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the model as a versioned artifact folder (see :mod:`._artifact`)."""
        arrays: dict[str, np.ndarray] = {}
        components: dict[str, Any] = {}
        for kind, component in self.components.items():
            for name, array in component.arrays().items():
                arrays[f"{kind}/{name}"] = np.asarray(array)
            report = self.reports.get(kind)
            components[kind] = {"settings": component.settings(),
                                "report": report.to_dict() if report else None}
        metadata = {
            "metasearch_version": __version__,
            "family": self.family,
            "direction": self.direction,
            "max_budget": self.max_budget,
            "space": self.space.to_dict(),
            "space_fingerprint": self.space.fingerprint(),
            "split": self.split.to_dict(),
            "components": components,
            "info": self.info,
        }
        return write_artifact(folder, metadata, arrays)

    @classmethod
    def load(cls, folder: str | Path, space: SearchSpace | None = None) -> MetaModel:
        """Read a model; with ``space``, refuse one trained for another space.

        Raises:
            ModelError: a missing or corrupt artifact, or one made for another space.
        """
        stored = read_artifact(folder, fingerprint=space.fingerprint() if space else None)
        meta = stored.metadata
        try:
            stored_space = SearchSpace.from_dict(meta["space"])
            if stored_space.fingerprint() != meta.get("space_fingerprint"):
                raise ModelError(
                    f"model {folder} is corrupt: the space in its metadata.json has fingerprint "
                    f"{stored_space.fingerprint()}, not the {meta.get('space_fingerprint')} it "
                    "records (was the file edited?); train the model again")
            model_space = space or stored_space
            model = cls(str(meta["family"]), model_space, str(meta["direction"]),
                        int(meta["max_budget"]), TaskSplit.from_dict(meta["split"]),
                        info=dict(meta.get("info", {})))
            for kind, entry in meta["components"].items():
                arrays = stored.component_arrays(kind)
                restored = component_class(kind).restore(entry["settings"], arrays, model_space)
                model.components[kind] = restored
                if entry.get("report"):
                    model.reports[kind] = FitReport(**entry["report"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {folder} is corrupt: {type(exc).__name__}: {exc}") from exc
        return model

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: family, split sizes, components and their figures."""
        return {
            "family": self.family,
            "space_fingerprint": self.space.fingerprint(),
            "split": {k: len(v) for k, v in self.split.to_dict().items()},
            "components": {k: self.reports[k].to_dict() if k in self.reports else None
                           for k in self.components},
            "info": self.info,
        }


def reports_table(reports: Mapping[str, FitReport]) -> list[list[Any]]:
    """Rows ``component, metric, train, validation, seconds`` for the CLI's table."""
    rows: list[list[Any]] = []
    for kind, report in reports.items():
        names = list(dict.fromkeys([*report.train, *report.validation])) or ["-"]
        for i, name in enumerate(names):
            rows.append([kind if i == 0 else "", name, report.train.get(name),
                         report.validation.get(name), report.seconds if i == 0 else None])
    return rows
