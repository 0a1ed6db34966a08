"""The README's example runs as documented, cold and with metasearch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "optuna_pytorch.py"


@pytest.mark.parametrize("extra", [[], ["--meta"]])
def test_optuna_pytorch_example(extra: list[str], tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    done = subprocess.run([sys.executable, str(EXAMPLE), "--trials", "4", "--storage", storage,
                           "--study", "s", *extra], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "best valid accuracy" in done.stdout
    import optuna

    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 4
