"""Meta-training for a comparison: the training tasks' data, the models, the warm starts.

A meta-model used on a test task is fitted on training tasks only: meta-trained here (and
reused from its folder when it was fitted alike), or a given one checked against its recorded
split. The warm-start baselines take the trials of the training task the model finds most
similar to the test task.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError, ModelError
from metasearch.metamodel import MetaDataset, MetaModel, TaskContext, TaskSplit
from metasearch.metamodel._source import load_dataset, warehouse_snapshot
from metasearch.samplers._warm_start import WarmStart

__all__ = ["SOURCE_SEP", "cached_model", "check_loaded", "recorded_test_tasks", "train_model",
           "warm_start"]

SOURCE_SEP = "::"
"""Joins a source family and its task in the training ids of ``--transfer-from``."""

_MODELS: dict[str, Any] = {}


def cached_model(folder: str | None) -> MetaModel | None:
    """The model saved in ``folder`` (None: none), loaded once per folder and process."""
    if folder is None:
        return None
    if folder not in _MODELS:
        _MODELS[folder] = MetaModel.load(folder)
    return _MODELS[folder]


def _training_data(store: Any, family: str, train: Sequence[str]) -> Any:
    """The meta-dataset of ``train``: tasks of ``family``, or ``SOURCE::task`` of another.

    Tasks of other families (``--transfer-from``, same space, checked before) are merged
    under their prefixed ids into one data set of ``family``.
    """
    by_family: dict[str, list[str]] = {}
    for task in train:
        source, sep, name = task.partition(SOURCE_SEP)
        if sep:
            by_family.setdefault(source, []).append(name)
        else:
            by_family.setdefault(family, []).append(task)
    if list(by_family) == [family]:
        return load_dataset(store, family, tasks=by_family[family])
    parts = {f: load_dataset(store, f, tasks=tasks) for f, tasks in by_family.items()}
    first = next(iter(parts.values()))
    histories = {(t if f == family else f"{f}{SOURCE_SEP}{t}"): h
                 for f, data in parts.items() for t, h in data.tasks.items()}
    return MetaDataset(family, first.space, first.direction,
                       max(d.max_budget for d in parts.values()), histories)


def train_model(store: Any, family: str, train: Sequence[str], folder: Path, seed: int,
                 device: str) -> tuple[str, float]:
    """Meta-train on ``train`` (15% of them validate) and save; reuse a folder fitted alike."""
    if (folder / "metadata.json").exists():
        try:
            old = MetaModel.load(folder)
            if sorted(old.split.seen) == sorted(train) and old.info.get("seed") == seed:
                return str(folder), float(old.info.get("total_seconds", 0.0))
        except MetasearchError:
            pass  # a corrupt or partial model: fit it again
    start = time.perf_counter()
    data = _training_data(store, family, train)
    # Too few tasks to hold some out for early stopping: fit on all of them.
    split = (TaskSplit.make(list(train), seed=seed, validation=0.15, test=0.0)
             if len(train) >= 4 else TaskSplit(train=tuple(sorted(train))))
    # Every component the data can feed (curves need two steps or more; see MetaModel.train).
    model = MetaModel.train(data, split, seed=seed, device=device)
    seconds = time.perf_counter() - start
    owners = sorted({t.partition(SOURCE_SEP)[0] if SOURCE_SEP in t else family for t in train})
    snapshot = (warehouse_snapshot(store, owners[0]) if owners == [family]
                else {owner: warehouse_snapshot(store, owner) for owner in owners})
    model.info.update({"warehouse": snapshot, "seed": seed,
                       "total_seconds": seconds, "device": device})
    model.save(folder)
    return str(folder), seconds


def _load_given(model_dir: Path, family: Any) -> MetaModel:
    """A given model folder, refused unless it is of ``family`` (its name and space).

    Raises:
        ModelError: a missing or corrupt model, or one of another family or space.
    """
    model = MetaModel.load(model_dir, family.space)
    if model.family != family.name:
        raise ModelError(f"--model {model_dir} is a model of family {model.family!r}, "
                         f"not {family.name!r}")
    return model


def recorded_test_tasks(model_dir: Path, family: Any) -> list[str]:
    """The test tasks a given model held out when it was meta-trained, those ``family`` has.

    A model meta-trained on every task recorded none: the caller keeps its own default (and
    :func:`check_loaded` refuses the model on any test task it saw).

    Raises:
        ModelError: a missing or corrupt model, or one of another family or space.
        MetasearchError: recorded test tasks none of which is a task of ``family``.
    """
    recorded = _load_given(model_dir, family).split.test
    known = set(family.task_ids())
    tasks = sorted(t for t in recorded if t in known)
    if recorded and not tasks:
        raise MetasearchError(f"--model {model_dir} held out tasks {sorted(recorded)}, none "
                              f"of which is a task of {family.name!r}: pass --test-tasks")
    return tasks


def check_loaded(model_dir: Path, family: Any, test: Sequence[str]) -> tuple[str, float]:
    """A given model folder, refused unless it is of ``family`` (its name and space) and held
    every test task out.

    Raises:
        ModelError: a missing or corrupt model, or one of another family or space.
        MetasearchError: a model that saw a test task.
    """
    model = _load_given(model_dir, family)
    model.split.check_held_out(test)
    return str(model_dir), float(model.info.get("total_seconds", 0.0))


def warm_start(store: Any, family: str, model_dir: str, train: Sequence[str],
                features: Mapping[str, float] | None, direction: str) -> WarmStart:
    """The most similar training task (by the model's similarity) and its trials."""
    model = cached_model(model_dir)
    if model is None:  # a folder is given: MetaModel.load raised already if it held none
        raise ModelError(f"no meta-model in {model_dir!r} for the nearest-task warm start")
    similarity = model.similarity()
    chosen = sorted(train)[0]
    if similarity is not None:
        weights = similarity.weights(TaskContext(meta_features=features))
        ids = list(similarity.task_ids)
        ranked = [ids[i] for i in np.argsort(-weights, kind="stable") if ids[i] in set(train)]
        chosen = ranked[0] if ranked else chosen
    space = model.space
    owner, sep, name = chosen.partition(SOURCE_SEP)
    trials = store.trials(owner, tasks=[name]) if sep else store.trials(family, tasks=[chosen])
    done = trials[(trials["status"] == "complete") & trials["final_value"].notna()]
    done = done.sort_values("final_value", ascending=direction == "minimize")
    flat = [space.flatten(space.validate(c)) for c in done["config"]]
    values = done["final_value"].astype(float).tolist()
    source = list(zip(flat, values, strict=True))[:500]
    best: list[dict[str, Any]] = []
    for params in flat:
        if params not in best:
            best.append(params)
        if len(best) == 5:
            break
    return WarmStart(chosen, best, source)
