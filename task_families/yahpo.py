"""``yahpo-SCENARIO``: every YAHPO Gym scenario folder found in the benchmark data, a family each.

Pfisterer et al., "YAHPO Gym - An Efficient Multi-Objective Multi-Fidelity Benchmark for
Hyperparameter Optimization", AutoML-Conf 2022. A folder of YAHPO's data (v1.0.2:
``config_space.json``, ``encoding.json``, ``model.onnx``) under ``--data`` /
``$METASEARCH_BENCHMARKS`` (the root itself, a folder of scenario folders, or its ``yahpo/``
subfolder) becomes ``yahpo-FOLDER``, e.g. ``yahpo-rbv2_rpart``: adding a folder adds a family,
with no code. What a scenario's model reads and predicts is YAHPO Gym's definition of it
(:mod:`metasearch.families._yahpo_scenarios`), or the folder's own ``scenario.json``. How a
scenario becomes a family is in :mod:`metasearch.families._yahpo`. ``lcbench`` is served by
``yahpo_lcbench.py`` under its established name.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from metasearch.families import BenchmarkDataError, register_family
from metasearch.families._benchmarks import on_data_path
from metasearch.families._yahpo import YahpoFamily, scenario_class, scenario_folders

SERVED_ELSEWHERE = frozenset({"lcbench"})
_CLASSES: dict[Path, type[YahpoFamily]] = {}


def register_found() -> None:
    """Register a family for every scenario folder the data root holds now."""
    for folder in scenario_folders():
        if folder.name in SERVED_ELSEWHERE:
            continue
        if folder not in _CLASSES:
            try:
                _CLASSES[folder] = scenario_class(folder)
            except BenchmarkDataError as exc:  # one bad folder must not hide the others
                warnings.warn(f"YAHPO scenario {folder} skipped: {exc}", stacklevel=2)
                continue
        register_family(_CLASSES[folder])


register_found()
on_data_path(register_found)
