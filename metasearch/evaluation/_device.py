"""The one function that turns a device name into the device a trial runs on."""

from __future__ import annotations

import re

from metasearch.errors import DeviceError

__all__ = ["check_device", "parse_device", "resolve_device"]

_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(?::(\d+))?)$")
_VALID = "auto, cpu, cuda, cuda:N or mps"


def parse_device(spec: str) -> str:
    """Check that ``spec`` is a device name, without importing torch.

    Commands call this first so a typo fails at once, before any work or any slow import.

    Raises:
        DeviceError: when ``spec`` is not a device name.
    """
    text = spec.strip().lower() if isinstance(spec, str) else spec
    if not isinstance(text, str) or not _PATTERN.match(text):
        raise DeviceError(f"unknown device {spec!r}: expected {_VALID}")
    return text


def resolve_device(spec: str = "auto") -> str:
    """The concrete torch device for ``spec``: ``auto`` picks CUDA when present, else CPU.

    Raises:
        DeviceError: when ``spec`` is malformed or names a device this machine lacks.
    """
    text = parse_device(spec)
    if text == "cpu":
        return "cpu"
    import torch  # only here: resolving an accelerator is the first moment torch is needed

    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("device 'mps' is not available on this machine")
        return "mps"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(text.split(":")[1]) if ":" in text else 0
    if index >= count:
        raise DeviceError(
            f"device {spec!r} is not available: this machine has {count} CUDA GPU(s)"
        )
    return text


def check_device(spec: str) -> str:
    """``spec`` checked before any work: its form always, its presence when it names one.

    ``auto`` and ``cpu`` need no torch (commands that run no model stay fast); ``cuda:N`` and
    ``mps`` are resolved, so a device this machine lacks is refused, never recorded.

    Raises:
        DeviceError: a malformed name, or an accelerator this machine does not have.
    """
    text = parse_device(spec)
    return text if text in ("auto", "cpu") else resolve_device(text)
