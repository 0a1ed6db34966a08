"""A meta-model kept inside the warehouse, for warehouses that many machines share.

A PostgreSQL warehouse is reached by URL from every worker; a model folder beside it would have
to be copied to each machine. So meta-train stores the artifact (the same ``metadata.json`` and
``weights.pt`` as a folder, see :mod:`._artifact`) in the warehouse's ``model_files`` table, in
one transaction, and ``from_warehouse(url, family=...)`` reads it back with every check a folder
gets (format version, checksum, space fingerprint).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from metasearch.errors import ModelError
from metasearch.metamodel._model import MetaModel

if TYPE_CHECKING:
    from metasearch.spaces import SearchSpace
    from metasearch.warehouse import Warehouse

__all__ = ["load_from_warehouse", "save_to_warehouse"]


def save_to_warehouse(model: MetaModel, store: Warehouse) -> str:
    """Store ``model`` as its family's model in ``store``, replacing any; where it went."""
    with tempfile.TemporaryDirectory(prefix="metasearch-model-") as scratch:
        folder = model.save(Path(scratch) / model.family)
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    store.put_model_files(model.family, files)
    return f"{store.url} (model_files of {model.family!r})"


def load_from_warehouse(store: Warehouse, family: str,
                        space: SearchSpace | None = None) -> MetaModel | None:
    """The model stored in ``store`` for ``family`` (checked against ``space``), or None.

    Raises:
        ModelError: a stored model that is corrupt or made for another space.
    """
    files = store.model_files(family)
    if not files:
        return None
    with tempfile.TemporaryDirectory(prefix="metasearch-model-") as scratch:
        folder = Path(scratch) / family
        folder.mkdir()
        for name, content in files.items():
            (folder / Path(name).name).write_bytes(content)
        try:
            return MetaModel.load(folder, space)
        except ModelError as exc:
            shown = str(exc).replace(str(folder), f"{store.url}#{family}")
            raise ModelError(f"the model stored in the warehouse: {shown}") from exc
