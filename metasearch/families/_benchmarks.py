"""Where the public benchmark data lives: one resolution rule for every public family.

The data (NATS-Bench tables, the YAHPO Gym LCBench surrogate, TaskSet curves) is measured by
others and never copied into the project. A family finds it, first match first, in:

1. the path given on the command line (``--data PATH``, which calls :func:`set_data_path`);
2. the folder named by ``$METASEARCH_BENCHMARKS``.

Either may name the root folder laid out like the shared one (``nats_tss/``,
``yahpo_lcbench/``, ``taskset/``) or the family's own folder or file directly. Nothing is
looked up relative to the checkout, so a missing download is reported, never guessed at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from metasearch.errors import MetasearchError

__all__ = ["ENV_VAR", "BenchmarkDataError", "find_data", "on_data_path", "set_data_path"]

ENV_VAR = "METASEARCH_BENCHMARKS"
_LISTENERS: list[Callable[[], None]] = []


class BenchmarkDataError(MetasearchError, FileNotFoundError):
    """Benchmark data that is missing or malformed; the message says where to get it."""


def set_data_path(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` for every public family of this process and of the workers it starts.

    It is put in ``$METASEARCH_BENCHMARKS``, so processes spawned by ``build --workers`` see
    it too. Call it before the family is first used: a family resolves its data once.
    """
    if path is None:
        return
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise BenchmarkDataError(f"--data {str(path)!r}: no such file or folder")
    os.environ[ENV_VAR] = str(resolved)
    for listener in _LISTENERS:
        listener()


def on_data_path(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever :func:`set_data_path` names new data.

    Families found in the data (one per YAHPO scenario folder) register then, so a ``--data``
    given after the family files were loaded still brings its families.
    """
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def find_data(family: str, subfolder: str | Sequence[str], accept: Callable[[Path], bool],
              source: str) -> Path:
    """The data of ``family``: ``ROOT/subfolder`` or ``ROOT`` itself, whichever ``accept``s.

    Args:
        family: the family's name (for the message).
        subfolder: its folder in the shared layout, e.g. ``nats_tss``, or several, first
            match first (e.g. ``yahpo/rbv2_rpart`` and ``rbv2_rpart``).
        accept: whether a path holds the family's data (e.g. has ``model.onnx``).
        source: where to download the data, said when it is missing.

    Raises:
        BenchmarkDataError: saying where it looked and where to get the data.
    """
    subfolders = [subfolder] if isinstance(subfolder, str) else list(subfolder)
    root = os.environ.get(ENV_VAR, "")
    if root:
        base = Path(root).expanduser()
        for candidate in (*(base / s for s in subfolders), base):
            if candidate.exists() and accept(candidate):
                return candidate
        looked = f"${ENV_VAR}={root!r} holds no {subfolders[0]}/ data"
    else:
        looked = f"${ENV_VAR} is not set"
    raise BenchmarkDataError(
        f"{family}: data not found ({looked}): set {ENV_VAR} to a folder holding "
        f"{subfolders[0]}/, or pass --data PATH; get it from {source}"
    )
