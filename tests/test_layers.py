"""Issue 14, item 1: imports point down only, as the import-linter contract in pyproject says.

``lint-imports`` runs in .ci/run too; this test makes the README's test command catch a broken
layer as well.
"""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path

from importlinter.cli import EXIT_STATUS_ERROR, EXIT_STATUS_SUCCESS, lint_imports

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


def test_the_layers_contract_is_kept() -> None:
    assert lint_imports(str(PYPROJECT), no_cache=True, no_logo=True) == EXIT_STATUS_SUCCESS


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
    assert lint_imports(str(config), no_cache=True, no_logo=True) == EXIT_STATUS_ERROR
