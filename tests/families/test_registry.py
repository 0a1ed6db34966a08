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


def _families_json(folder: Path, **extra_env: str
                   ) -> tuple[list[dict], str]:  # type: ignore[type-arg]
    env = {**os.environ, "METASEARCH_FAMILY_PATH": str(folder), **extra_env}
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


def test_a_family_from_an_entry_point_is_found(tmp_path: Path) -> None:
    """An installed package's ``metasearch.task_families`` entry point, found through
    importlib.metadata: a real ``.dist-info`` on ``sys.path``. The class is not decorated, so
    only the entry point registers it; a broken entry point is named and hides nothing."""
    site = tmp_path / "site"
    (site / "quad_plugin").mkdir(parents=True)
    (site / "quad_plugin" / "__init__.py").write_text(
        USER_FAMILY.replace("@register_family\n", "").replace("user-quad", "plugin-quad"))
    info = site / "quad_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: quad-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[metasearch.task_families]\n"
                                           "quad = quad_plugin:Quad\n"
                                           "gone = quad_plugin_missing:Quad\n")
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    families, stderr = _families_json(tmp_path / "no-files", PYTHONPATH=path)
    quad = next(f for f in families if f["name"] == "plugin-quad")
    assert [t["id"] for t in quad["tasks"]] == ["quad-1", "quad-2"]
    assert "entry point gone failed to load" in stderr and "quad_plugin_missing" in stderr
    assert "synthetic" in {f["name"] for f in families}
    alone, _ = _families_json(tmp_path / "no-files")  # without the package: no such family
    assert "plugin-quad" not in {f["name"] for f in alone}


def test_unknown_family_names_the_known_ones() -> None:
    with pytest.raises(UnknownFamilyError, match=r"'nope'.*synthetic"):
        get_family("nope")
    assert {"synthetic", "tabular-mlp", "cell-cnn"} <= set(family_names())


# -- families that exist only in the warehouse ----------------------------------------------

def test_a_family_stored_in_the_warehouse_resolves_with_its_stored_space(
        tmp_path: Path) -> None:
    from plain_history import FAMILY, history_warehouse

    from metasearch.families import resolve_family
    from metasearch.warehouse import Warehouse

    with Warehouse.open(history_warehouse(tmp_path, n_tasks=3, n_trials=5)) as store:
        family = resolve_family(FAMILY, store)
        record = store.family(FAMILY)
    assert family.name == FAMILY and family.direction == "minimize"
    assert family.space.fingerprint() == record.fingerprint
    assert family.task_ids() == ["ds0", "ds1", "ds2"]
    assert sorted(family.space.names) == ["criterion", "depth", "lr"]


def test_a_stored_family_refuses_new_trials_saying_why(tmp_path: Path) -> None:
    from plain_history import FAMILY, history_warehouse

    from metasearch.families import NoObjectiveError, resolve_family
    from metasearch.warehouse import Warehouse

    with Warehouse.open(history_warehouse(tmp_path, n_tasks=2, n_trials=3)) as store:
        task = resolve_family(FAMILY, store).task("ds1")
    with pytest.raises(NoObjectiveError, match="exists only in the warehouse"):
        task.evaluate({"lr": 0.01, "depth": 3, "criterion": "gini"})


def test_a_registered_family_wins_and_an_unknown_one_names_the_stored(tmp_path: Path) -> None:
    from plain_history import history_warehouse

    from metasearch.families import resolve_family
    from metasearch.warehouse import Warehouse

    where = history_warehouse(tmp_path, n_tasks=2, n_trials=3, family="synthetic-copy")
    with Warehouse.open(where) as store:
        assert resolve_family("synthetic", store) is get_family("synthetic")
        with pytest.raises(UnknownFamilyError, match=r"stored in .* are synthetic-copy"):
            resolve_family("nope", store)
    with pytest.raises(UnknownFamilyError, match="'synthetic-copy'"):
        resolve_family("synthetic-copy")
