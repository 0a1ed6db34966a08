"""``examples/own_studies.py`` at its quick size, measured on data sets no past study saw.

Past studies of an SVC pipeline (one per generated data set) feed ``from_studies`` and,
separately, ``ingest-optuna`` + ``meta-train`` (defaults: every study trains) +
``from_warehouse``; each searches 4 held-out data sets x 5 seeds next to Optuna's TPE, with the
default settings (up to 5 portfolio trials, each study handing over to the acquisition when its
own trials argue for it). Checked: both are ahead of TPE after 5 trials, ``from_studies`` also
after 15, and both after 5 trials are no worse than TPE after 15 (the issue's bar). Measured
2026-12-01: ``from_studies`` 0.032, the warehouse path 0.049 (its 8th to 11th of 20 runs all
at 0.049), TPE after 15 0.061 (10th and 11th: 0.058 and 0.063). With ``meta-train``'s former
default, a held-out split that kept 2 of the 6 studies out of the model, the warehouse path
missed the bar (0.067; the check was dropped then). Then ``metasearch suggest`` serves the
warehouse family from the command line.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from metasearch.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_studies.py"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("own_studies", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_past_studies_reach_at_5_trials_what_tpe_reaches_at_15(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METASEARCH_CACHE_DIR", str(tmp_path / "cache"))
    result = example().main(["--quick", "--out", str(tmp_path)])
    assert not set(result["held_out"]) & set(result["past"])
    median = {m: {k: q[1] for k, q in by_k.items()} for m, by_k in result["summary"].items()}
    assert len(result["regret"]["tpe"][15]) == len(result["held_out"]) * 5
    for method, k in (("from_studies", 5), ("from_studies", 15), ("warehouse", 5)):
        assert median[method][k] <= median["tpe"][k], (method, k, result["summary"])
    for method in ("from_studies", "warehouse"):
        assert median[method][5] <= median["tpe"][15], (method, result["summary"])
    shown = CliRunner().invoke(app, ["suggest", "-f", "svc", "-w", str(tmp_path / "wh.db"),
                                     "-n", "3", "--json"])
    assert shown.exit_code == 0, shown.output
    suggested = json.loads(shown.stdout)
    assert suggested["cold_start_reason"] is None and len(suggested["suggestions"]) == 3
