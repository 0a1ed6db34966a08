"""Finding a family's meta-model for MetaSampler, degrading to none with one warning.

A sampler is often built where no model was trained yet (a fresh checkout, a new family); the
issue's contract is that it then cold-starts instead of failing, so every reason a model cannot
be had becomes a warning naming that reason.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from metasearch.errors import MetasearchError
from metasearch.metamodel import MetaModel

__all__ = ["ColdStartWarning", "model_folders", "resolve_model"]


class ColdStartWarning(UserWarning):
    """MetaSampler has no usable meta-model and searches as a cold-start sampler."""


def model_folders(path_or_url: str | os.PathLike[str] | None, family: str) -> list[Path]:
    """Where the model of ``family`` may live, most specific first.

    ``models/<family>`` next to the warehouse file (``path_or_url``, else
    ``$METASEARCH_WAREHOUSE``), then next to the shipped warehouse. A URL warehouse (PostgreSQL)
    keeps no files, so its models are the shipped ones.
    """
    from metasearch.warehouse import default_path
    from metasearch.warehouse._engine import ENV_VAR

    folders = []
    target = os.fspath(path_or_url) if path_or_url else os.environ.get(ENV_VAR, "")
    if target and "://" not in target:
        folders.append(Path(target).parent / "models" / family)
    shipped = default_path().parent / "models" / family
    if shipped not in folders:
        folders.append(shipped)
    return folders


def resolve_model(path_or_url: str | os.PathLike[str] | None, family: str,
                  model: MetaModel | str | os.PathLike[str] | None) -> MetaModel | None:
    """The model of ``family``; None (with a :class:`ColdStartWarning`) when there is none."""
    if isinstance(model, MetaModel):
        return _checked(model, family)
    try:
        from metasearch.families import get_family

        space = get_family(family).space
    except MetasearchError as exc:
        return _cold(f"family {family!r} is unknown ({exc})")
    folders = [Path(model)] if model is not None else model_folders(path_or_url, family)
    found = next((f for f in folders if (f / "metadata.json").exists()), None)
    if found is None:
        return _cold(f"no meta-model of family {family!r} in "
                     f"{', '.join(str(f) for f in folders)}")
    try:
        return _checked(MetaModel.load(found, space), family)
    except MetasearchError as exc:
        return _cold(f"the meta-model in {found} cannot be used: {exc}")


def _checked(model: MetaModel, family: str) -> MetaModel | None:
    if model.family != family:
        return _cold(f"the meta-model is of family {model.family!r}, not {family!r}")
    return model


def _cold(reason: str) -> MetaModel | None:
    """Warn that the sampler cold-starts, naming why; always None (no model)."""
    warnings.warn(f"MetaSampler cold-starts (no meta-model): {reason}", ColdStartWarning,
                  stacklevel=4)
    return None
