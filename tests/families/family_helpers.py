"""Helpers the family tests share (a plain module: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from metasearch.families import TaskFamily

ROOT = Path(__file__).resolve().parents[2]


def family_module(family: TaskFamily) -> Any:
    """The family file's module (loaded by path by the registry)."""
    return sys.modules[type(family).__module__]


def run_python(code: str) -> Any:
    """Run ``code`` in a fresh interpreter from the repository root; parse what it prints."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def task_data(family: TaskFamily, task_id: str) -> Any:
    """The task's split data (a family-specific attribute, so untyped here)."""
    task: Any = family.task(task_id)
    return task.data
