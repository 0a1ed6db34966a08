"""Device names: parsed without torch, resolved to what the machine has."""

from __future__ import annotations

import subprocess
import sys

import pytest

from metasearch.errors import DeviceError
from metasearch.evaluation import parse_device, resolve_device


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:3", "CPU", "mps"])
def test_valid_names_parse(name: str) -> None:
    assert parse_device(name) == name.lower()


@pytest.mark.parametrize("name", ["tpu", "cuda:", "cuda:x", "gpu0", ""])
def test_bad_names_are_one_clear_error(name: str) -> None:
    with pytest.raises(DeviceError, match="expected auto, cpu, cuda"):
        parse_device(name)


def test_cpu_and_auto_resolve() -> None:
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_absent_gpu_is_refused_with_the_count() -> None:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(DeviceError, match=f"has {count} CUDA GPU"):
        resolve_device(f"cuda:{count}")


def test_parsing_a_device_does_not_import_torch() -> None:
    code = (
        "import sys; from metasearch.evaluation import parse_device; parse_device('cuda:0'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
