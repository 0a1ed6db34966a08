"""The model artifact: a versioned folder of tensors and JSON, never pickle.

    <dir>/metadata.json   format version, family, space + fingerprint, split, warehouse
                          snapshot, each component's settings and fit report, timings,
                          and the SHA-256 of the weights file
    <dir>/weights.pt      every component's arrays as named tensors, read back with
                          ``torch.load(..., weights_only=True)``

Writes go to a temporary folder renamed into place, so a crash never leaves half a model where
a good one was. Reading checks the format version, the checksum and the space fingerprint, and
any mismatch or corruption is one :class:`ModelError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metasearch.errors import ModelError

__all__ = [
    "FORMAT_VERSION",
    "ModelError",
    "StoredModel",
    "check_model_target",
    "read_artifact",
    "write_artifact",
]

FORMAT_VERSION = 1
METADATA = "metadata.json"
WEIGHTS = "weights.pt"


@dataclass(frozen=True)
class StoredModel:
    """What an artifact holds: its metadata and arrays keyed ``"<component>/<name>"``."""

    metadata: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]

    def component_arrays(self, kind: str) -> dict[str, np.ndarray]:
        prefix = f"{kind}/"
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _deduplicate(arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                               dict[str, str]]:
    """Store identical arrays once (components share the training encodings, for one)."""
    unique: dict[str, np.ndarray] = {}
    first: dict[tuple[str, tuple[int, ...], str], str] = {}
    aliases: dict[str, str] = {}
    for key, value in arrays.items():
        array = np.ascontiguousarray(value)
        identity = (array.dtype.str, array.shape, hashlib.sha256(array.tobytes()).hexdigest())
        if identity in first:
            aliases[key] = first[identity]
        else:
            first[identity] = key
            unique[key] = array
    return unique, aliases


def check_model_target(folder: str | Path) -> Path:
    """Refuse an output path that holds anything this tool did not write.

    A model folder is replaced as a whole, so the only folder that may be replaced is one that
    holds a model and nothing else (``metadata.json``, ``weights.pt``) or nothing at all: a
    user's notes must never be swept away with an old model.

    Raises:
        ModelError: ``folder`` is a file, or a folder with other files or without a model.
    """
    target = Path(folder)
    if not target.exists() and not target.is_symlink():
        return target
    if target.is_symlink() or not target.is_dir():
        raise ModelError(f"refusing to write a model to {target}: it exists and is not a "
                         "model folder; choose another --out")
    entries = {p.name for p in target.iterdir()}
    foreign = sorted(entries - {METADATA, WEIGHTS})
    if foreign or (entries and METADATA not in entries):
        what = f"it holds {', '.join(foreign[:3])}" if foreign else f"it has no {METADATA}"
        raise ModelError(f"refusing to replace {target}: {what}, so it is not a model folder "
                         "(only a folder holding a model, or an empty one, is replaced); "
                         "choose another --out")
    return target


def write_artifact(folder: str | Path, metadata: Mapping[str, Any],
                   arrays: Mapping[str, np.ndarray]) -> Path:
    """Write an artifact atomically: a temporary sibling folder renamed over ``folder``.

    Raises:
        ModelError: ``folder`` exists and is not a model folder (see
            :func:`check_model_target`); nothing is written then.
    """
    import torch

    target = check_model_target(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        unique, aliases = _deduplicate(arrays)
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in unique.items()}
        torch.save(tensors, staging / WEIGHTS)
        full = {**metadata, "format_version": FORMAT_VERSION, "array_aliases": aliases,
                "weights_sha256": _sha256(staging / WEIGHTS)}
        (staging / METADATA).write_text(json.dumps(full, indent=2, sort_keys=True))
        staging.chmod(0o755)  # mkdtemp makes it private; a model folder is for everyone
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an old model is moved aside first, then removed.

    Checked again just before the swap, so a file a user dropped into the old folder while the
    model trained is refused rather than deleted.
    """
    if not target.exists():
        staging.replace(target)
        return
    check_model_target(target)
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    old.rmdir()  # a unique name to rename into; rename needs it absent
    target.replace(old)
    staging.replace(target)
    for name in (METADATA, WEIGHTS):  # only the files we know; rmdir fails on anything else
        (old / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # something appeared in it since: keep it whole
        old.rmdir()


def read_artifact(folder: str | Path, *, fingerprint: str | None = None) -> StoredModel:
    """Read and check an artifact.

    Args:
        folder: the model folder.
        fingerprint: when given, the space fingerprint the model must have been trained for.

    Raises:
        ModelError: missing files, unreadable JSON, a checksum mismatch, a newer format, or
            a model trained for another space.
    """
    path = Path(folder)
    metadata = _read_metadata(path)
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(f"{path / METADATA}: format version {version!r} is newer than this "
                         f"metasearch reads ({FORMAT_VERSION}); upgrade metasearch")
    if fingerprint is not None and metadata.get("space_fingerprint") != fingerprint:
        raise ModelError(
            f"model {path} was trained for family {metadata.get('family')!r} with space "
            f"{metadata.get('space_fingerprint')}, not this space ({fingerprint})"
        )
    arrays = _read_weights(path, metadata)
    aliases = metadata.get("array_aliases", {})
    if not isinstance(aliases, dict) or any(v not in arrays for v in aliases.values()):
        raise ModelError(f"{path / METADATA} is corrupt: bad array_aliases")
    arrays.update({alias: arrays[source] for alias, source in aliases.items()})
    return StoredModel(metadata, arrays)


def _read_metadata(path: Path) -> dict[str, Any]:
    if not (path / METADATA).is_file():
        raise ModelError(f"no model at {path}: {METADATA} is missing (train one with "
                         "`metasearch meta-train`)")
    try:
        metadata = json.loads((path / METADATA).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path / METADATA} is corrupt: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelError(f"{path / METADATA} is corrupt: not a JSON object")
    return metadata


def _read_weights(path: Path, metadata: Mapping[str, Any]) -> dict[str, np.ndarray]:
    import torch

    weights = path / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"{weights} is missing")
    if _sha256(weights) != metadata.get("weights_sha256"):
        raise ModelError(f"{weights} is corrupt: its checksum does not match {METADATA}")
    try:
        tensors = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ModelError(f"{weights} is corrupt: {exc}") from exc
    if not isinstance(tensors, dict):
        raise ModelError(f"{weights} is corrupt: expected a dict of tensors")
    return {str(k): v.numpy() for k, v in tensors.items()}
