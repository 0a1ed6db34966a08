"""``metasearch suggest``: the next configurations to try on a task, from the meta-model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from metasearch.cli._output import Output, format_value
from metasearch.cli._warehouse import WAREHOUSE
from metasearch.errors import MetasearchError, redact_url


def parse_features(pairs: list[str]) -> dict[str, float]:
    """``["n_rows=150", "n_classes=3"]`` as a dict of floats.

    Raises:
        MetasearchError: a pair without ``=``, a repeated name, or a value that is not a
            finite number.
    """
    import math

    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise MetasearchError(f"--features takes name=value, got {pair!r}")
        if name in out:
            raise MetasearchError(f"meta-feature {name!r} is given twice")
        try:
            value = float(text)
        except ValueError:
            raise MetasearchError(f"meta-feature {name!r} is not a number: {text!r}") from None
        if not math.isfinite(value):
            raise MetasearchError(f"meta-feature {name!r} is not finite: {text!r}")
        out[name] = value
    return out


def _load_model(family: str, model: Path | None, warehouse: str | None) -> tuple[Any, str]:
    """The family's meta-model and where it came from; (None, reason) to cold-start.

    A named ``--model`` must be usable (else :class:`~metasearch.errors.ModelError`); only
    the default one may be missing, and the suggestions then come from a cold start.
    """
    from metasearch.samplers._meta_loading import default_model, named_model

    if model is not None:
        return named_model(warehouse, family, model), str(model)
    return default_model(warehouse, family)


def suggest(
    family: str = typer.Option(..., "--family", "-f", help="Task family: registered (see "
                               "`metasearch families`) or stored in the warehouse."),
    data: Path | None = typer.Option(None, "--data", help="The task's data (CSV or Parquet): "
                                     "its meta-features are computed from it."),
    target: str | None = typer.Option(None, "--target", help="Label column of --data."),
    features: list[str] = typer.Option([], "--features", help="The task's meta-features as "
                                       "name=value (repeat the option)."),
    storage: str | None = typer.Option(None, "--storage", help="Optuna storage URL of a study "
                                       "of this task: its trials are the support set."),
    study: str | None = typer.Option(None, "--study", help="Study name in --storage."),
    model: Path | None = typer.Option(None, "--model", help="Meta-model folder (default: "
                                      "models/FAMILY next to the warehouse, else the shipped)."),
    n: int = typer.Option(5, "-n", "--n", help="How many configurations."),
    enqueue: bool = typer.Option(False, "--enqueue", help="Put the suggestions into --study "
                                 "as enqueued trials."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the sampler."),
    warehouse: str | None = WAREHOUSE,
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Print the next configurations to try, with predicted value, spread and similar tasks."""
    import optuna

    from metasearch.samplers._meta_loading import load_family
    from metasearch.samplers._suggest import SUGGESTED_ATTR, table_meta_features
    from metasearch.samplers._suggest import suggest as make_suggestions

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    the_family = load_family(warehouse, family)
    if (data is None) != (target is None):
        raise MetasearchError("--data and --target go together: the table and its label column")
    if data is not None and features:
        raise MetasearchError("give the task's meta-features either by --data or by "
                              "--features, not both")
    if (storage is None) != (study is None):
        raise MetasearchError("--storage and --study go together: where the study is, and "
                              "its name")
    if enqueue and study is None:
        raise MetasearchError("--enqueue needs --storage and --study: the study to enqueue in")
    meta = (table_meta_features(data, target) if data is not None and target is not None
            else parse_features(features) or None)
    the_model, where = _load_model(family, model, warehouse)
    _check_features(the_model, meta)
    the_study = None
    if storage is not None and study is not None:
        from metasearch.warehouse import open_storage

        opened = open_storage(storage, create=False)  # never creates a mistyped file
        try:
            the_study = optuna.load_study(study_name=study, storage=opened)
        except KeyError:
            raise MetasearchError(f"no study {study!r} in {redact_url(storage)}") from None
    result = make_suggestions(the_family, model=the_model, n=n, meta_features=meta,
                              study=the_study, warehouse=warehouse, seed=seed,
                              model_name=where)
    if enqueue and the_study is not None:
        for item in result.suggestions:
            the_study.enqueue_trial(item.params, user_attrs={SUGGESTED_ATTR: True},
                                    skip_if_exists=True)
    out = Output(json_mode)
    if json_mode:
        out.json({**result.to_dict(), "cold_start_reason": None if the_model else where,
                  "enqueued": bool(enqueue)})
        return
    _print(out, result, the_family, the_model is not None, where, enqueue, study)


def _check_features(model: Any, meta: dict[str, float] | None) -> None:
    """Refuse meta-features that share no name with the ones the model was trained on."""
    if model is None or not meta:
        return
    similarity = model.similarity()
    names = list(similarity.scaler.names) if similarity is not None else []
    if names and not set(names) & set(meta):
        raise MetasearchError(
            f"none of the given meta-features ({', '.join(sorted(meta))}) is one the "
            f"{model.family!r} model knows: {', '.join(names)}")


def _print(out: Output, result: Any, family: Any, has_model: bool, where: str,
           enqueued: bool, study: str | None) -> None:
    if has_model:
        out.line(f"{family.name}: meta-model {where}; support set {result.n_support} "
                 f"finished trials")
    else:
        out.line(f"{family.name}: cold start ({where}); suggestions from the fallback sampler")
    rows = []
    for i, item in enumerate(result.suggestions, start=1):
        predicted = ("" if item.predicted is None
                     else f"{format_value(item.predicted)} ± {format_value(item.uncertainty)}")
        quantile = "" if item.quantile is None else f"{item.quantile:.2f}"
        config = ", ".join(f"{k}={format_value(v)}" for k, v in item.config.items())
        rows.append([i, item.source, predicted, quantile, config])
    out.table(f"next {len(rows)} configurations ({family.metric}, {family.direction})",
              ["#", "from", f"predicted {family.metric}", "quantile", "configuration"], rows)
    for line in _why(result):
        out.line(line)
    if result.similar and not _uniform(result):
        _print_similar(out, result)
    if enqueued:
        out.line(f"enqueued {len(rows)} trials in study {study!r}")


def _uniform(result: Any) -> bool:
    return bool(result.similar[0].weight < 1.5 / max(result.n_past_tasks, 1))


def _why(result: Any) -> list[str]:
    """Lines on what the model makes of the meta-features (unknown ones, learned relevance)."""
    lines = []
    if result.unknown_features:
        lines.append(f"warning: meta-features {', '.join(result.unknown_features)} are not "
                     f"among those the model was trained with: they are not used")
    if not result.similar:
        return lines
    if result.meta_features and not result.relevance:
        lines.append("the model learned that this family's meta-features do not predict which "
                     "configurations do well (leave-one-task-out on its training tasks), so "
                     "they do not change the suggestions")
    if _uniform(result):
        lines.append(f"no past task stands out: the {result.n_past_tasks} past tasks weigh "
                     f"about alike (the meta-features and trials so far tell them little apart)")
    return lines


def _print_similar(out: Output, result: Any) -> None:
    """The heaviest past tasks, with the learned-relevant features beside this task's."""
    names = [n for n in result.relevance if n in (result.meta_features or {})][:4]
    names = [n for n in names if any(n in s.features for s in result.similar)]
    rows = []
    if names:
        rows.append(["(this task)", "", *[format_value(result.meta_features[n]) for n in names]])
    for item in result.similar:
        rows.append([item.task, f"{item.weight:.3f}",
                     *[format_value(item.features.get(n)) for n in names]])
    title = "most similar past tasks" + (", and why (the features they are weighed by)"
                                         if names else "")
    out.table(title, ["task", "weight", *names], rows)
