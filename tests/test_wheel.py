"""A user's install: the sdist and the wheel built from it carry the whole product.

Built as a user's ``pip install`` builds it (sdist, then the wheel from the sdist), installed
into a fresh venv that sees nothing of the checkout (its dependencies come from this test's own
environment through a ``.pth`` line, so torch is not downloaded again), and used from a folder
outside the checkout with a temporary home: the built-in families, the shipped warehouse and
its models must be there, and nothing may be written into site-packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # building, installing and compare --quick: minutes

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("task_families/synthetic.py", "task_families/tabular_mlp.py",
           "warehouse/warehouse.db.xz", "warehouse/models/tabular-mlp/metadata.json",
           "warehouse/models/synthetic/weights.pt")


def _never_shipped(name: str) -> bool:
    """What the source copy plants (or a build makes) and no archive may carry."""
    parts = name.split("/")
    return (".venv" in parts or "__pycache__" in parts or parts[-1] == "warehouse.db"
            or parts[-1].startswith(".unpack-"))


def _run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=900, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _source_copy(tmp: Path) -> Path:
    """The checkout, plus what must never ship: a venv, an unpacked warehouse, a half unpack."""
    source = tmp / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "compare-out", "warehouse.db*"))
    shutil.copy(REPO / "warehouse" / "warehouse.db.xz", source / "warehouse")
    (source / ".venv").mkdir()
    (source / ".venv" / "pyvenv.cfg").write_text("home = /nowhere\n")
    (source / "warehouse" / "warehouse.db").write_bytes(b"unpacked, local")
    (source / "warehouse" / ".unpack-half").write_bytes(b"half")
    return source


def _build(source: Path, out: Path) -> tuple[Path, Path]:
    """The sdist of ``source``, and the wheel built from that sdist (no network)."""
    code = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    name = _run([sys.executable, "-c", code, out], cwd=source).stdout.split()[-1]
    sdist = out / name
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--wheel-dir", out, sdist])
    return sdist, next(out.glob("metasearch-*.whl"))


def _venv(tmp: Path, wheel: Path) -> tuple[Path, Path]:
    """A fresh venv holding only the wheel; its dependencies are this environment's."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                .stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_metasearch_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel])
    return venv, site


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_the_wheel_gives_the_whole_product_and_writes_outside_site_packages(
        tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    sdist, wheel = _build(_source_copy(tmp_path), out)
    with tarfile.open(sdist) as tar:
        in_sdist = tar.getnames()
    in_wheel = zipfile.ZipFile(wheel).namelist()
    for path in SHIPPED:
        assert any(n.endswith(f"/{path}") for n in in_sdist), path
        assert f"metasearch/_shipped/{path}" in in_wheel, path
    for listing in (in_sdist, in_wheel):
        assert not [name for name in listing if _never_shipped(name)]

    venv, site = _venv(tmp_path, wheel)
    before = _snapshot(site)
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("METASEARCH_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", HOME=str(home),
               XDG_DATA_HOME=str(home / "data"), PYTHONNOUSERSITE="1")

    where = _run(["python", "-c", "import metasearch; print(metasearch.__file__)"], cwd=work,
                 env=env).stdout.strip()
    assert Path(where) == site / "metasearch" / "__init__.py"
    families = _run(["metasearch", "families"], cwd=work, env=env).stdout
    for name in ("synthetic:", "tabular-mlp:", "cell-cnn:"):
        assert name in families
    suggested = _run(["metasearch", "suggest", "-f", "tabular-mlp", "--features", "n_rows=500"],
                     cwd=work, env=env)
    assert "portfolio" in suggested.stdout  # the shipped model's warm starts, not a cold start
    _run(["metasearch", "compare", "--quick", "--methods", "metasearch,random"], cwd=work,
         env=env)
    assert (work / "compare-out" / "report.html").is_file()

    assert (home / "data" / "metasearch" / "warehouse.db").is_file()  # the shipped history
    assert _snapshot(site) == before
