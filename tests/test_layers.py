"""Issue 14, item 1: imports point down only, as the import-linter contract in pyproject says.

``lint-imports`` runs in .ci/run too; this test makes the README's test command catch a broken
layer as well.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import metasearch

if sys.version_info >= (3, 11):
    import tomllib
else:  # import-linter needs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _layers() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [name.strip() for layer in contract["layers"] for name in layer.split("|")]


def _lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on ``config`` for the metasearch this test imports.

    In a process of its own: import-linter reconfigures logging, which other tests read.
    """
    path = os.pathsep.join([str(Path(metasearch.__file__).parents[1]),
                            os.environ.get("PYTHONPATH", "")])
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports({str(config)!r}, no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, check=False, timeout=300)


def test_the_layers_contract_is_kept() -> None:
    run = _lint_imports(PYPROJECT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {f"metasearch.{m.name}" for m in pkgutil.iter_modules(metasearch.__path__)}
    assert parts == set(_layers())


def test_an_upward_import_breaks_a_contract(tmp_path: Path) -> None:
    # cli imports errors; a contract that puts errors above cli must therefore fail, which
    # shows the checker reads the package's imports (and would catch one pointing up).
    config = tmp_path / "upside_down.toml"
    config.write_text('[tool.importlinter]\nroot_package = "metasearch"\n\n'
                      '[[tool.importlinter.contracts]]\nname = "upside down"\ntype = "layers"\n'
                      'layers = ["metasearch.errors", "metasearch.cli"]\n')
    run = _lint_imports(config)
    assert run.returncode == 1 and "upside down BROKEN" in run.stdout, run.stdout + run.stderr
