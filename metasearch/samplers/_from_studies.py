"""Learning a meta-model straight from past Optuna studies, cached by what the studies hold.

This is the path behind :meth:`MetaSampler.from_studies` and :meth:`MetaPruner.from_studies`:
each finished study becomes one past task (its name is the task), the studies' spaces are
matched by parameter name (:func:`metasearch.warehouse.shared_space`), and the components the
data supports are meta-trained on every study (no task is held out: this model is for use, not
for evaluation). The model is saved under a fingerprint of the source trials, so building the
sampler again, in this process or the next, reads the model instead of training it; a trial
added to any source study changes the fingerprint, and the next build learns afresh.

Only Optuna's public API is used: ``Study.get_trials``, ``optuna.load_study`` and
``optuna.get_all_study_names``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from metasearch._version import __version__
from metasearch.errors import MetasearchError
from metasearch.evaluation import resolve_device
from metasearch.metamodel import MetaDataset, MetaModel, ModelError, TaskSplit, component_class
from metasearch.spaces import SearchSpace
from metasearch.warehouse import (
    finished_trials,
    load_studies,
    shared_space,
    trial_data,
)

__all__ = [
    "CACHE_ENV_VAR",
    "PRUNER_KINDS",
    "SAMPLER_KINDS",
    "StudiesLike",
    "cache_root",
    "learn_from_studies",
    "resolve_studies",
]

_logger = optuna.logging.get_logger(__name__)

CACHE_ENV_VAR = "METASEARCH_CACHE_DIR"
"""Overrides the user cache folder where models learned from studies are kept."""

CACHE_FORMAT = 1
"""Bumped when what a cached model means changes, so old entries are not reused."""

SAMPLER_KINDS: tuple[str, ...] = ("portfolio", "prior", "rgpe")
"""What MetaSampler learns by default: warm-start portfolio, prior, and RGPE.

RGPE (one GP per past study, weighted by how well each ranks the new study's trials) is the
transfer surrogate made for a handful of past tasks with their own trials each, and fits in
seconds; FSBO's deep kernel (``surrogate``) wants many tasks and minutes of training on a
CPU, so it is opt-in (``components=[..., "surrogate"]``)."""

PRUNER_KINDS: tuple[str, ...] = ("curves",)
"""What MetaPruner uses: the learning-curve model."""

StudiesLike = Sequence[optuna.Study] | str
"""Study objects, or the URL (or journal file) of a storage whose studies are read."""


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where learned models are kept: ``cache_dir``, ``$METASEARCH_CACHE_DIR``, else the
    user's cache folder (``platformdirs.user_cache_dir("metasearch")``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("metasearch"))


def resolve_studies(studies: StudiesLike,
                    names: str | Sequence[str] | None = None) -> list[optuna.Study]:
    """The source studies: the objects given, or those of a storage matching ``names``.

    Raises:
        ValueError: no study, something that is not a study, two studies of one name, or
            ``names`` given with study objects.
        WarehouseError: the storage cannot be read, or a name matches no study there.
    """
    if isinstance(studies, (str, os.PathLike)):
        patterns = [names] if isinstance(names, str) else list(names or ())
        return load_studies(os.fspath(studies), patterns)
    if names is not None:
        raise ValueError("names= selects studies of a storage URL; with Study objects, pass "
                         "only the studies you want")
    chosen = list(studies)
    if not chosen:
        raise ValueError("from_studies needs at least one finished study, got none")
    bad = [s for s in chosen if not isinstance(s, optuna.Study)]
    if bad:
        raise ValueError(f"from_studies takes optuna.Study objects or a storage URL, got "
                         f"{type(bad[0]).__name__}: {bad[0]!r}")
    seen = [s.study_name for s in chosen]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ValueError(f"studies {twice} are given twice: each study is one past task")
    return chosen


def _direction(studies: Sequence[optuna.Study]) -> str:
    """The one direction of every study (single-objective), as ``maximize``/``minimize``."""
    found: dict[str, list[str]] = {}
    for study in studies:
        if len(study.directions) != 1:
            raise ValueError(f"study {study.study_name!r} has {len(study.directions)} "
                             "objectives: from_studies learns from single-objective studies")
        found.setdefault(study.direction.name.lower(), []).append(study.study_name)
    if len(found) > 1:
        raise ValueError(f"the studies do not share a direction: {found}; learn from "
                         "studies of one objective")
    return next(iter(found))


def _fingerprint(trials: Mapping[str, Sequence[FrozenTrial]], space: SearchSpace,
                 direction: str, kinds: Sequence[str], seed: int) -> str:
    """A hash of everything the model is learned from and how, to name its cache entry."""
    digest = hashlib.sha256()
    head = [CACHE_FORMAT, __version__, space.fingerprint(), direction,
            sorted(kinds), seed]
    digest.update(json.dumps(head).encode())
    for name in sorted(trials):
        digest.update(json.dumps(["study", name]).encode())
        for t in sorted(trials[name], key=lambda t: t.number):
            row = [t.number, t.state.name, sorted(t.params.items()), t.value,
                   sorted(t.intermediate_values.items())]
            digest.update(json.dumps(row, default=repr).encode())
    return digest.hexdigest()[:24]


def _dataset(trials: Mapping[str, Sequence[FrozenTrial]], space: SearchSpace,
             direction: str, family: str) -> MetaDataset:
    """The studies as plain records: one task per study, curves by reporting order.

    A curve's points are numbered by position (1, 2, ...), not by the step the objective
    reported, which is how MetaPruner reads a running trial's curve too.
    """
    rows: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    for name, study_trials in trials.items():
        for trial in study_trials:
            data = trial_data(trial, name, space)
            rows.append({"trial_id": len(rows), "task": name, "config": data.config,
                         "status": data.status, "final_value": data.final_value})
            points += [{"trial_id": rows[-1]["trial_id"], "step": i + 1, "value": v}
                       for i, v in enumerate(data.curve)]
    budget = max([p["step"] for p in points], default=1)
    return MetaDataset.from_frames(
        family=family, space=space, direction=direction, max_budget=budget,
        trials=pd.DataFrame(rows), curves=pd.DataFrame(points, columns=["trial_id", "step",
                                                                         "value"]))


def _supported(kinds: Iterable[str], data: MetaDataset) -> list[str]:
    """The components of ``kinds`` the data can feed; says once why any other is skipped
    (``Component.lacks``: curves need two reported values per trial, for one).

    Raises:
        ValueError: the data feeds none of them, with each one's reason.
    """
    chosen, reasons = [], {}
    for kind in kinds:
        reasons[kind] = component_class(kind)().lacks(data)
        if reasons[kind] is None:
            chosen.append(kind)
        else:
            _logger.info(f"from_studies: no {kind} ({reasons[kind]})")
    if not chosen:
        raise ValueError("the source studies cannot teach any of the components asked for: "
                         + "; ".join(f"{k}: {r}" for k, r in reasons.items()))
    return chosen


def learn_from_studies(
    studies: StudiesLike,
    *,
    names: str | Sequence[str] | None = None,
    kinds: Sequence[str] = SAMPLER_KINDS,
    family: str = "from-studies",
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
) -> tuple[MetaModel, list[str]]:
    """The meta-model of ``studies`` (cached), and the parameters it leaves to the fallback.

    Raises:
        ValueError: see :func:`resolve_studies`; studies of mixed directions; data that can
            feed none of ``kinds`` (e.g. curves from studies without intermediate values).
        WarehouseError: the spaces cannot be matched (a parameter of two kinds).
        MetasearchError: no study has a complete trial.
    """
    sources = resolve_studies(studies, names)
    direction = _direction(sources)
    trials = {s.study_name: finished_trials(s) for s in sources}
    space, left_out = shared_space(trials)
    folder = cache_root(cache_dir) / "from_studies" / _fingerprint(
        trials, space, direction, kinds, seed)
    if left_out:
        _logger.warning(f"from_studies: parameter(s) {left_out} are not in every trial of every "
                        "source study; the fallback sampler searches them")
    cached = _load_cached(folder, space)
    if cached is not None:
        return cached, left_out
    data = _dataset(trials, space, direction, family)
    usable = [t for t, h in data.tasks.items() if h.ok.any()]
    if not usable:
        raise MetasearchError(f"studies {sorted(trials)} have no complete trial to learn from")
    return _train(data.subset(usable), kinds, seed, device, folder, sorted(trials)), left_out


def _load_cached(folder: Path, space: SearchSpace) -> MetaModel | None:
    if not (folder / "metadata.json").exists():
        return None
    try:
        model = MetaModel.load(folder, space)
    except ModelError as exc:  # a damaged cache entry is relearned, never trusted
        _logger.warning(f"from_studies: relearning the cached model in {folder}: {exc}")
        return None
    _logger.info(f"from_studies: cached model {folder}")
    return model


def _train(data: MetaDataset, kinds: Sequence[str], seed: int, device: str, folder: Path,
           studies: list[str]) -> MetaModel:
    """Meta-train on every study (none held out) and save the model at ``folder``."""
    start = time.perf_counter()
    where = resolve_device(device)
    chosen = _supported(kinds, data)
    model = MetaModel.train(data, TaskSplit(train=tuple(data.task_ids)), kinds=chosen,
                            seed=seed, device=where)
    model.info.update({"source": "optuna studies", "studies": studies, "seed": seed,
                       "device": where, "total_seconds": time.perf_counter() - start})
    try:
        model.save(folder)
    except OSError as exc:  # another process saved the same model first, or no write access
        _logger.warning(f"from_studies: could not cache the model at {folder}: {exc}")
    _logger.info(f"from_studies: learned {sorted(model.components)} from {len(studies)} "
                 f"studies in {time.perf_counter() - start:.1f}s; cached at {folder}")
    return model
