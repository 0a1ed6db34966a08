"""Finding a family's meta-model for MetaSampler, MetaPruner and ``suggest``.

Two cases, kept apart on purpose:

* a model the caller **named** (``model=`` a folder or a loaded model, ``--model DIR``) must
  be usable: a missing, corrupt or mismatched one raises :class:`~metasearch.errors.ModelError`
  with the reason, because silently searching without it would hide the mistake;
* the **implicit** default (no model named) is often absent (a fresh checkout, a family never
  meta-trained), so then the sampler cold-starts with one :class:`ColdStartWarning` naming why.

The family may be registered (a family file) or exist only in the warehouse (past Optuna
studies, a results table): its space then comes from the warehouse's record
(:func:`metasearch.families.resolve_family`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from metasearch._locations import shipped_folder
from metasearch.errors import MetasearchError, ModelError
from metasearch.families import TaskFamily, family_names, resolve_family
from metasearch.metamodel import MetaModel, load_from_warehouse
from metasearch.names import name_path
from metasearch.spaces import SearchSpace
from metasearch.warehouse import ENV_VAR, Warehouse, default_path

__all__ = ["ColdStartWarning", "default_model", "family_space", "load_family", "model_folders",
           "named_model", "on_server", "resolve_model"]

PathOrUrl = str | os.PathLike[str] | None


class ColdStartWarning(UserWarning):
    """MetaSampler has no usable meta-model and searches as a cold-start sampler."""


def model_folders(path_or_url: PathOrUrl, family: str) -> list[Path]:
    """Where the model of ``family`` may live as a folder, most specific first.

    ``models/<family>`` next to the warehouse file (``path_or_url``, else
    ``$METASEARCH_WAREHOUSE``), then next to the default warehouse (where meta-training writes:
    the checkout's ``warehouse/``, or the user data folder of an installed metasearch), then the
    shipped models (read-only data inside an installed package; the default's folder in a
    checkout). A URL warehouse (PostgreSQL) keeps its model inside itself (see
    :mod:`metasearch.metamodel`), so only those folders are file locations for it.
    """
    folders = []
    target = os.fspath(path_or_url) if path_or_url else os.environ.get(ENV_VAR, "")
    if target.startswith("sqlite:///"):
        target = target.removeprefix("sqlite:///")
    if target and "://" not in target:
        folders.append(name_path(Path(target).parent / "models", family))
    for base in (default_path().parent, shipped_folder("warehouse")):
        if name_path(base / "models", family) not in folders:
            folders.append(name_path(base / "models", family))
    return folders


def load_family(path_or_url: PathOrUrl, family: str) -> TaskFamily:
    """The family ``family``: registered, else as stored in the warehouse ``path_or_url``.

    The warehouse is opened only for a family that is not registered.

    Raises:
        UnknownFamilyError: neither registered nor stored there.
    """
    if family in family_names():
        return resolve_family(family)
    with Warehouse.open(path_or_url) as store:
        return resolve_family(family, store)


def family_space(path_or_url: PathOrUrl, family: str) -> SearchSpace:
    """The space of ``family`` (see :func:`load_family`)."""
    return load_family(path_or_url, family).space


def on_server(path_or_url: PathOrUrl) -> bool:
    """Whether the warehouse is a database server (PostgreSQL) rather than an SQLite file."""
    target = os.fspath(path_or_url) if path_or_url else os.environ.get(ENV_VAR, "")
    return "://" in target and not target.startswith("sqlite")


def default_model(path_or_url: PathOrUrl, family: str) -> tuple[MetaModel | None, str]:
    """The default model of ``family`` and where it came from, or (None, why there is none).

    A PostgreSQL warehouse's own model (``meta-train`` stores it there) comes first, then the
    :func:`model_folders`.
    """
    try:
        space = family_space(path_or_url, family)
    except MetasearchError as exc:
        return None, f"family {family!r} is unknown ({exc})"
    if on_server(path_or_url):
        try:
            with Warehouse.open(path_or_url) as store:
                stored, where = load_from_warehouse(store, family, space), store.url
        except MetasearchError as exc:
            return None, f"the meta-model stored in the warehouse cannot be used: {exc}"
        if stored is not None:
            return _checked(stored, family, where)
    folders = model_folders(path_or_url, family)
    found = next((f for f in folders if (f / "metadata.json").exists()), None)
    if found is None:
        return None, (f"no meta-model of family {family!r} in "
                      f"{', '.join(str(f) for f in folders)}")
    try:
        return _checked(MetaModel.load(found, space), family, str(found))
    except MetasearchError as exc:
        return None, f"the meta-model in {found} cannot be used: {exc}"


def resolve_model(path_or_url: PathOrUrl, family: str,
                  model: MetaModel | str | os.PathLike[str] | None) -> MetaModel | None:
    """The model of ``family``: the one named, else the default (:func:`default_model`).

    Raises:
        ModelError: ``model`` was named and is missing, corrupt, or made for another family
            or space.

    Returns:
        The model; None (after a :class:`ColdStartWarning`) when no model was named and the
        default one cannot be had.
    """
    if model is not None:
        return named_model(path_or_url, family, model)
    found, where = default_model(path_or_url, family)
    if found is None:
        warnings.warn(f"MetaSampler cold-starts (no meta-model): {where}", ColdStartWarning,
                      stacklevel=3)
    return found


def named_model(path_or_url: PathOrUrl, family: str,
                model: MetaModel | str | os.PathLike[str]) -> MetaModel:
    """The model the caller named, checked against ``family`` and its space.

    Raises:
        ModelError: missing, corrupt, or made for another family or space.
        UnknownFamilyError: ``family`` is neither registered nor stored.
    """
    space = family_space(path_or_url, family)
    if isinstance(model, MetaModel):
        loaded = model
        if loaded.space.fingerprint() != space.fingerprint():
            raise ModelError(f"the given meta-model of {loaded.family!r} was trained for space "
                             f"{loaded.space.fingerprint()}, not {family!r}'s "
                             f"{space.fingerprint()}")
    else:
        loaded = MetaModel.load(Path(model), space)
    if loaded.family != family:
        raise ModelError(f"the meta-model {_name(model)} is of family {loaded.family!r}, "
                         f"not {family!r}")
    return loaded


def _name(model: MetaModel | str | os.PathLike[str]) -> str:
    return "given" if isinstance(model, MetaModel) else f"in {os.fspath(model)}"


def _checked(model: MetaModel, family: str, where: str) -> tuple[MetaModel | None, str]:
    if model.family != family:
        return None, f"the meta-model in {where} is of family {model.family!r}, not {family!r}"
    return model, where
