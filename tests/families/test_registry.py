"""The family registry: a dropped file is a family, a broken file hides nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from metasearch.errors import UnknownFamilyError
from metasearch.families import family_names, get_family

USER_FAMILY = textwrap.dedent('''
    from metasearch.evaluation import CurveRecorder
    from metasearch.families import Task, TaskFamily, register_family
    from metasearch.spaces import Float, SearchSpace


    class QuadTask(Task):
        def compute_meta_features(self):
            return {"shift": float(self.id[-1])}

        def _train(self, config, budget, device, seed, curve: CurveRecorder):
            for step in range(1, budget + 1):
                curve.step(-(config["x"] - float(self.id[-1])) ** 2 * step / budget)
            return None


    @register_family
    class Quad(TaskFamily):
        name = "user-quad"
        description = "a family added by dropping one file"
        direction = "maximize"
        max_budget = 3
        uses_torch = False

        def build_space(self):
            return SearchSpace(params=(Float("x", -5.0, 5.0),))

        def task_ids(self):
            return ["quad-1", "quad-2"]

        def make_task(self, task_id):
            return QuadTask(self, task_id)
''')


def _families_json(folder: Path) -> tuple[list[dict], str]:  # type: ignore[type-arg]
    env = {**os.environ, "METASEARCH_FAMILY_PATH": str(folder)}
    done = subprocess.run(
        [sys.executable, "-c", "from metasearch.cli import main; main()", "families", "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )
    return json.loads(done.stdout), done.stderr


def test_a_dropped_file_is_a_family(tmp_path: Path) -> None:
    (tmp_path / "quad.py").write_text(USER_FAMILY)
    families, _ = _families_json(tmp_path)
    quad = next(f for f in families if f["name"] == "user-quad")
    assert [t["id"] for t in quad["tasks"]] == ["quad-1", "quad-2"]
    assert quad["tasks"][1]["meta_features"] == {"shift": 2.0}
    assert {"synthetic", "tabular-mlp", "cell-cnn"} <= {f["name"] for f in families}


def test_a_broken_file_is_named_and_hides_nothing(tmp_path: Path) -> None:
    (tmp_path / "quad.py").write_text(USER_FAMILY)
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    families, stderr = _families_json(tmp_path)
    assert "user-quad" in {f["name"] for f in families}
    assert "broken.py failed to load" in stderr and "not_a_module_anywhere" in stderr


def test_unknown_family_names_the_known_ones() -> None:
    with pytest.raises(UnknownFamilyError, match=r"'nope'.*synthetic"):
        get_family("nope")
    assert {"synthetic", "tabular-mlp", "cell-cnn"} <= set(family_names())
