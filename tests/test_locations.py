"""Where shipped data is found and where metasearch writes: from the checkout, and installed.

The installed layout is built here by hand (the package copied into a temporary site folder,
with ``_shipped/`` inside it as a wheel lays it out) and used from a subprocess, so these tests
run in seconds; ``tests/test_wheel.py`` (slow) builds and installs the real wheel.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from metasearch import _locations
from metasearch.families import family_folders
from metasearch.samplers._meta_loading import model_folders
from metasearch.warehouse import Warehouse, default_path

REPO = Path(__file__).resolve().parents[1]


def test_from_the_checkout_the_repository_folders_are_shipped_and_written() -> None:
    assert _locations.from_checkout()
    assert _locations.shipped_folder("task_families") == REPO / "task_families"
    assert _locations.shipped_folder("warehouse") == REPO / "warehouse"
    assert default_path() == REPO / "warehouse" / "warehouse.db"
    assert REPO / "task_families" in family_folders()


def test_the_user_data_folder_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform != "linux":
        pytest.skip("XDG_DATA_HOME is the Linux convention")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert _locations.user_data_folder() == tmp_path / "metasearch"
    assert tmp_path / "metasearch" / "task_families" in family_folders(existing=False)
    assert tmp_path / "metasearch" / "task_families" not in family_folders()  # not created


def test_models_next_to_a_named_warehouse_come_before_the_shipped_ones(tmp_path: Path) -> None:
    folders = model_folders(tmp_path / "mine.db", "synthetic")
    assert folders == [tmp_path / "models" / "synthetic",
                       REPO / "warehouse" / "models" / "synthetic"]
    assert model_folders("postgresql://u@h/db", "x") == [REPO / "warehouse" / "models" / "x"]


def _installed(tmp_path: Path, *, with_family: bool) -> Path:
    """A site folder holding metasearch laid out as the wheel installs it; returns the folder."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "metasearch", site / "metasearch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shipped = site / "metasearch" / _locations.SHIPPED_IN_PACKAGE
    (shipped / "task_families").mkdir(parents=True)
    if with_family:
        shutil.copy(REPO / "task_families" / "synthetic.py", shipped / "task_families")
    (shipped / "warehouse" / "models" / "synthetic").mkdir(parents=True)
    source = tmp_path / "source.db"
    with Warehouse.open(source) as store:
        store.close()
    (shipped / "warehouse" / "warehouse.db.xz").write_bytes(lzma.compress(source.read_bytes()))
    return site


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def _run_installed(site: Path, tmp_path: Path, code: str,
                   *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (with ``args`` as ``sys.argv[1:]``) against the installed copy only."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("METASEARCH_WAREHOUSE", "METASEARCH_FAMILY_PATH")}
    env.update(PYTHONPATH=str(site), HOME=str(tmp_path / "home"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_installed_it_reads_the_packaged_data_and_writes_only_to_the_user_folder(
        tmp_path: Path) -> None:
    site = _installed(tmp_path, with_family=True)
    before = _snapshot(site)
    code = """if True:
        import json, metasearch
        from metasearch import _locations
        from metasearch.families import family_folders, family_names
        from metasearch.samplers._meta_loading import model_folders
        from metasearch.warehouse import Warehouse, default_path
        with Warehouse.open() as store:
            counts = store.counts()
        print(json.dumps({"package": metasearch.__file__, "default": str(default_path()),
                          "checkout": _locations.from_checkout(), "families": family_names(),
                          "folders": [str(f) for f in family_folders()],
                          "models": [str(f) for f in model_folders(None, "synthetic")]}))
    """
    done = _run_installed(site, tmp_path, code)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    shipped = site / "metasearch" / "_shipped"
    user = tmp_path / "data" / "metasearch"
    assert seen["package"] == str(site / "metasearch" / "__init__.py")
    assert not seen["checkout"] and seen["families"] == ["synthetic"]
    assert seen["folders"] == [str(shipped / "task_families")]
    assert seen["default"] == str(user / "warehouse.db") and (user / "warehouse.db").is_file()
    assert seen["models"] == [str(user / "models" / "synthetic"),
                              str(shipped / "warehouse" / "models" / "synthetic")]
    assert _snapshot(site) == before  # nothing written into the installed package


def test_no_family_found_says_where_it_looked(tmp_path: Path) -> None:
    site = _installed(tmp_path, with_family=False)
    main = "from metasearch.cli import main; main()"
    done = _run_installed(site, tmp_path, main, "families")
    assert done.returncode == 0, done.stderr
    assert "no task family found" in done.stdout
    assert str(tmp_path / "data" / "metasearch" / "task_families") in done.stdout
    assert "METASEARCH_FAMILY_PATH" in done.stdout
    as_json = _run_installed(site, tmp_path, main, "families", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []
    assert "no task family found" in as_json.stderr
