"""The model artifact: tensors + JSON, atomic writes, and one clear error for every fault."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metasearch.metamodel._artifact import ModelError, read_artifact, write_artifact

ARRAYS = {"surrogate/w": np.arange(6, dtype=np.float32).reshape(2, 3),
          "prior/x": np.linspace(0, 1, 5)}
META = {"family": "synthetic", "space_fingerprint": "abc"}


def test_round_trip(tmp_path: Path) -> None:
    write_artifact(tmp_path / "m", META, ARRAYS)
    stored = read_artifact(tmp_path / "m", fingerprint="abc")
    assert stored.metadata["family"] == "synthetic"
    np.testing.assert_array_equal(stored.component_arrays("surrogate")["w"], ARRAYS["surrogate/w"])
    assert stored.component_arrays("prior")["x"].dtype == np.float64


def test_overwrite_is_atomic_and_leaves_no_staging(tmp_path: Path) -> None:
    write_artifact(tmp_path / "m", META, ARRAYS)
    write_artifact(tmp_path / "m", {**META, "family": "other"}, ARRAYS)
    assert read_artifact(tmp_path / "m").metadata["family"] == "other"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_other_space_is_refused(tmp_path: Path) -> None:
    write_artifact(tmp_path / "m", META, ARRAYS)
    with pytest.raises(ModelError, match="space abc, not this space"):
        read_artifact(tmp_path / "m", fingerprint="xyz")


def test_corrupt_files_are_one_clear_error(tmp_path: Path) -> None:
    folder = write_artifact(tmp_path / "m", META, ARRAYS)
    weights = folder / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelError, match=r"weights\.pt is corrupt"):
        read_artifact(folder)
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"metadata\.json is corrupt"):
        read_artifact(folder)
    with pytest.raises(ModelError, match="no model at"):
        read_artifact(tmp_path / "absent")


def test_newer_format_is_refused(tmp_path: Path) -> None:
    folder = write_artifact(tmp_path / "m", META, ARRAYS)
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ModelError, match="newer"):
        read_artifact(folder)


def test_a_pickle_payload_is_not_executed(tmp_path: Path) -> None:
    import pickle

    folder = write_artifact(tmp_path / "m", META, ARRAYS)

    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (tmp_path / "pwned",))

    payload = pickle.dumps({"x": Boom()}, protocol=2)
    (folder / "weights.pt").write_bytes(payload)
    import hashlib

    meta = json.loads((folder / "metadata.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="corrupt"):
        read_artifact(folder)
    assert not (tmp_path / "pwned").exists()


def test_identical_arrays_are_stored_once(tmp_path: Path) -> None:
    import torch

    big = np.random.default_rng(0).random((200, 50))
    folder = write_artifact(tmp_path / "m", META, {"a/x": big, "b/x": big.copy(), "c/y": big[:1]})
    assert set(torch.load(folder / "weights.pt", weights_only=True)) == {"a/x", "c/y"}
    stored = read_artifact(folder)
    np.testing.assert_array_equal(stored.component_arrays("b")["x"], big)
