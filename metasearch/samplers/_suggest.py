"""What to try next on a task: MetaSampler's next configurations, with what the model expects.

This is the library behind ``metasearch suggest``. The suggestions are exactly what a
MetaSampler study would try next: the support set (a real study's trials, when given) is
copied into an in-memory study, and the sampler is asked for ``n`` trials there, each left
running so that the next one differs. Nothing is written to the real study unless the caller
enqueues the suggestions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from metasearch.errors import MetasearchError
from metasearch.families import TaskFamily, classification_meta_features
from metasearch.metamodel import MetaModel, TaskContext, TaskSimilarity, UnknownFeatureWarning
from metasearch.samplers._meta_loading import ColdStartWarning
from metasearch.samplers._meta_sampler import MetaSampler
from metasearch.samplers._meta_support import config_key, read_support
from metasearch.warehouse import Warehouse

__all__ = ["SimilarTask", "Suggestion", "Suggestions", "suggest", "table_meta_features"]

SUGGESTED_ATTR = "metasearch_suggested"
"""User attribute set on trials that ``suggest --enqueue`` put into a study."""


@dataclass(frozen=True)
class Suggestion:
    """One configuration to try next.

    Attributes:
        config: the configuration (nested, as the family's space validates it).
        params: the same as Optuna's flat parameters (what ``enqueue_trial`` takes).
        source: ``portfolio`` (a warm-start configuration), ``model`` (the acquisition
            function's pick) or ``cold-start`` (no model: the fallback sampler's).
        predicted: the expected final value in the family's metric, from the similar past
            tasks' response models mapped through each task's best and worst; None without a
            model or when the past tasks' values are not in the warehouse.
        uncertainty: the similarity-weighted standard deviation of that prediction across
            past tasks (how much they disagree), in the same units.
        quantile: the expected position between the past tasks' worst (0) and best (1).
    """

    config: dict[str, Any]
    params: dict[str, Any]
    source: str
    predicted: float | None = None
    uncertainty: float | None = None
    quantile: float | None = None


@dataclass(frozen=True)
class SimilarTask:
    """A past task and its weight in the prediction (weights sum to 1 over all past tasks).

    Attributes:
        task: the past task's id.
        weight: its weight.
        features: its stored values of the meta-features the model learned to weigh (the
            reason it weighs what it does, to set beside the new task's); NaN for a hole.
    """

    task: str
    weight: float
    features: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Suggestions:
    """The suggestions and what they were made from."""

    family: str
    suggestions: list[Suggestion]
    n_support: int
    model: str | None
    similar: list[SimilarTask] = field(default_factory=list)
    meta_features: dict[str, float] | None = None
    n_past_tasks: int = 0
    relevance: dict[str, float] = field(default_factory=dict)
    unknown_features: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "model": self.model,
            "n_support": self.n_support,
            "meta_features": self.meta_features,
            "n_past_tasks": self.n_past_tasks,
            "feature_relevance": self.relevance,
            "unknown_features": self.unknown_features,
            "similar_tasks": [{"task": s.task, "weight": s.weight,
                               "features": {k: None if math.isnan(v) else v
                                            for k, v in s.features.items()}}
                              for s in self.similar],
            "suggestions": [
                {"rank": i + 1, "config": s.config, "params": s.params, "source": s.source,
                 "predicted": s.predicted, "uncertainty": s.uncertainty,
                 "quantile": s.quantile}
                for i, s in enumerate(self.suggestions)
            ],
        }


def table_meta_features(path: str | Path, target: str, seed: int = 0) -> dict[str, float]:
    """Classification meta-features of a CSV or Parquet table with label column ``target``.

    Non-numeric feature columns are one-hot encoded; rows with a missing label are dropped
    and missing feature values are filled with the column median.

    Raises:
        MetasearchError: an unreadable file, a missing target column, fewer than 4 labelled
            rows, one class only, or no feature columns.
    """
    import pandas as pd

    source = Path(path)
    if not source.exists():
        raise MetasearchError(f"data file {source} does not exist")
    try:
        frame = (pd.read_parquet(source) if source.suffix in (".parquet", ".pq")
                 else pd.read_csv(source, sep=None, engine="python"))
    except Exception as exc:  # pandas raises many kinds for a malformed table
        raise MetasearchError(f"cannot read data file {source}: {exc}") from exc
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise MetasearchError(f"target column {target!r} is not in {source} (columns: {shown})")
    frame = frame[frame[target].notna()]
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise MetasearchError(f"{source} has no feature columns besides {target!r}")
    numeric = pd.get_dummies(features, dummy_na=False).astype(np.float64)
    numeric = numeric.fillna(numeric.median()).fillna(0.0)
    labels, _ = pd.factorize(frame[target])
    if len(labels) < 4:
        raise MetasearchError(f"{source} has {len(labels)} labelled rows; need at least 4")
    if labels.max() < 1:  # one class: class balance and the landmarkers mean nothing
        raise MetasearchError(f"target column {target!r} of {source} holds one class "
                              f"({frame[target].iloc[0]!r}); classification meta-features need "
                              "at least two")
    return classification_meta_features(numeric.to_numpy(), labels, seed=seed)


def _task_ranges(warehouse: str | Path | None, family: str, direction: str
                 ) -> dict[str, tuple[float, float]]:
    """Per past task, the worst and best complete final value, oriented higher-is-better."""
    try:
        with Warehouse.open(warehouse) as store:
            if not store.has_family(family):
                return {}
            bounds = store.task_bounds(family, direction)
    except MetasearchError:
        return {}
    sign = 1.0 if direction == "maximize" else -1.0
    return {str(task): (float(sign * worst), float(sign * best))
            for task, best, worst in zip(bounds.index, bounds["best"], bounds["worst"],
                                         strict=True)}


def _copy_trials(source: optuna.Study, target: optuna.Study) -> None:
    """Every trial of ``source`` into ``target``: finished ones as support, others as taken."""
    for trial in source.get_trials(deepcopy=True):
        if trial.state == TrialState.RUNNING:
            trial.state = TrialState.WAITING  # only its configuration matters here
            trial.datetime_start = None
        try:
            target.add_trial(trial)
        except (ValueError, TypeError) as exc:
            warnings.warn(f"trial {trial.number} of study {source.study_name!r} skipped: {exc}",
                          stacklevel=3)


def suggest(
    family: TaskFamily,
    *,
    model: MetaModel | None,
    n: int = 5,
    meta_features: Mapping[str, float] | None = None,
    study: optuna.Study | None = None,
    warehouse: str | Path | None = None,
    seed: int | None = None,
    model_name: str | None = None,
    n_similar: int = 3,
) -> Suggestions:
    """The next ``n`` configurations MetaSampler would try on a task of ``family``.

    Args:
        family: the task's family (its space and direction).
        model: the family's meta-model; None gives cold-start suggestions.
        n: how many configurations.
        meta_features: the task's meta-features (weights the portfolio, prior and prediction).
        study: an Optuna study of the task, whose trials are the support set (only read).
        warehouse: where the past tasks' value ranges are read from (for ``predicted``).
        seed: seeds the sampler.
        model_name: what to report as the model (its folder, say).
        n_similar: how many of the most similar past tasks to report.

    Raises:
        MetasearchError: ``n < 1``, or a study that optimizes in the other direction.
    """
    if n < 1:
        raise MetasearchError(f"-n must be at least 1, got {n}")
    features = {k: float(v) for k, v in meta_features.items()} if meta_features else None
    if features:
        for name, value in features.items():
            if not math.isfinite(value):
                raise MetasearchError(f"meta-feature {name!r} is not finite: {value!r}")
    if study is not None and study.direction.name.lower() != family.direction:
        raise MetasearchError(
            f"study {study.study_name!r} optimizes {study.direction.name.lower()}, but family "
            f"{family.name!r} needs {family.direction}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", ColdStartWarning)
        warnings.simplefilter("ignore", UnknownFeatureWarning)  # reported in the result
        sampler = MetaSampler(model, task_features=features, seed=seed)
    scratch = optuna.create_study(direction=family.direction, sampler=sampler)
    if study is not None:
        _copy_trials(study, scratch)
    space = family.space
    portfolio = model.get("portfolio") if model is not None else None
    warm = ({config_key(space.encode(c))
             for c in portfolio.configs(sampler.n_warmstart, TaskContext(meta_features=features))}
            if portfolio is not None else set())
    picked: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for _ in range(n):
        trial = scratch.ask()
        config = space.suggest(trial)
        picked.append((config, dict(trial.params)))
    done = scratch.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    support = read_support(space, scratch, done, current=-1)
    context = TaskContext(meta_features=features, x=support.x, scores=support.scores)
    similarity = model.similarity() if model is not None else None
    weights = similarity.weights(context) if similarity is not None else None
    ranges = (_task_ranges(warehouse, family.name, family.direction)
              if similarity is not None else {})
    out = []
    for config, params in picked:
        key = config_key(space.encode(config))
        source = "cold-start" if model is None else ("portfolio" if key in warm else "model")
        out.append(_predicted(config, params, source, space, similarity, weights, ranges,
                              1.0 if family.direction == "maximize" else -1.0))
    return Suggestions(family.name, out, n_support=support.n_ok,
                       model=model_name if model is not None else None,
                       similar=_most_similar(similarity, weights, n_similar),
                       meta_features=features,
                       n_past_tasks=len(similarity.task_ids) if similarity is not None else 0,
                       relevance=_relevant(similarity),
                       unknown_features=sampler.unknown_features)


def _relevant(similarity: TaskSimilarity | None) -> dict[str, float]:
    """The meta-features the model learned to weigh, most relevant first (none: all 0)."""
    if similarity is None:
        return {}
    used = {k: v for k, v in similarity.feature_relevance().items() if v > 0}
    return dict(sorted(used.items(), key=lambda item: -item[1]))


def _most_similar(similarity: TaskSimilarity | None, weights: np.ndarray | None, n: int
                  ) -> list[SimilarTask]:
    """The ``n`` heaviest past tasks, with their values of the features that weigh them."""
    if similarity is None or weights is None:
        return []
    names = [n for n in _relevant(similarity) if n in similarity.scaler.names]
    raw = similarity.raw_features
    out = []
    for i in np.argsort(-weights, kind="stable")[:n]:
        values = ({name: float(raw[i, similarity.scaler.names.index(name)]) for name in names}
                  if raw.shape == (len(similarity.task_ids), len(similarity.scaler.names))
                  else {})
        out.append(SimilarTask(similarity.task_ids[i], float(weights[i]), values))
    return out


def _predicted(config: dict[str, Any], params: dict[str, Any], source: str, space: Any,
               similarity: TaskSimilarity | None, weights: np.ndarray | None,
               ranges: Mapping[str, tuple[float, float]], sign: float) -> Suggestion:
    """The suggestion with the similarity-weighted prediction of the past tasks' models."""
    if similarity is None or weights is None:
        return Suggestion(config, params, source)
    per_task = np.clip(similarity.responses.predict(space.encode(config)[None, :])[0], 0, 1)
    quantile = float(per_task @ weights)
    tasks = similarity.task_ids
    if not all(t in ranges for t in tasks):
        return Suggestion(config, params, source, quantile=quantile)
    lo = np.array([ranges[t][0] for t in tasks])
    hi = np.array([ranges[t][1] for t in tasks])
    values = lo + per_task * (hi - lo)
    mean = float(values @ weights)
    spread = math.sqrt(max(float(((values - mean) ** 2) @ weights), 0.0))
    return Suggestion(config, params, source, predicted=sign * mean, uncertainty=spread,
                      quantile=quantile)
