"""``yahpo-lcbench``: the YAHPO Gym LCBench surrogate (Pfisterer et al., AutoML-Conf 2022).

An ONNX model, trained by YAHPO Gym's authors on LCBench (Zimmer et al., 2021), predicts the
learning curve of a funnel-shaped MLP with 7 hyperparameters on 34 OpenML tasks, one epoch at
a time up to 52. It runs with ``onnxruntime``, an optional dependency
(``pip install 'metasearch[benchmarks]'``) imported only when a task is evaluated.

The space is read from the data's ``config_space.json`` (ConfigSpace's JSON format):
``OpenML_task_id`` becomes the task and ``epoch`` the budget; the other 7 hyperparameters keep
their bounds and log scales. The model's input follows YAHPO Gym: the task's integer code from
``encoding.json`` (``x_cat``), and ``epoch, batch_size, learning_rate, momentum, weight_decay,
num_layers, max_units, max_dropout`` as raw float32 values (``x_cont``); its outputs are ``time,
val_accuracy, val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
test_balanced_accuracy``. The curve is ``val_accuracy`` (percent) per epoch, all epochs
predicted in one batched call; the surrogate has no test accuracy, so the test value is None.

Meta-features: none. The data ships only the OpenML task ids (in the task id), no data-set
statistics; an id is a name, not a quantity, so it is not a feature.
"""

from __future__ import annotations

import json
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from metasearch.evaluation import CurveRecorder
from metasearch.families import BenchmarkDataError, Task, TaskFamily, register_family
from metasearch.families._benchmarks import find_data
from metasearch.spaces import Float, Hyperparameter, Int, SearchSpace

SOURCE = ("YAHPO Gym's data (github.com/slds-lmu/yahpo_data, release v1.0.2, folder lcbench/: "
          "model.onnx, config_space.json, encoding.json), in a folder yahpo_lcbench/")
INSTANCE = "OpenML_task_id"
FIDELITY = "epoch"
CONT_ORDER = ("epoch", "batch_size", "learning_rate", "momentum", "weight_decay", "num_layers",
              "max_units", "max_dropout")
OUTPUTS = ("time", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy",
           "test_cross_entropy", "test_balanced_accuracy")
FILES = ("model.onnx", "config_space.json", "encoding.json")


def _complete(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in FILES)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: cannot be read as JSON: {exc}") from exc


def _param(spec: dict[str, Any], path: Path) -> Hyperparameter:
    kind, name = spec.get("type"), spec.get("name")
    if kind == "uniform_int":
        return Int(str(name), int(spec["lower"]), int(spec["upper"]), log=bool(spec["log"]))
    if kind == "uniform_float":
        return Float(str(name), float(spec["lower"]), float(spec["upper"]),
                     log=bool(spec["log"]))
    raise BenchmarkDataError(f"{path}: hyperparameter {name!r} of type {kind!r} is not "
                             "supported (expected uniform_int or uniform_float)")


@cache
def _session(path: Path) -> Any:
    """One single-threaded onnxruntime session per model file and process."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BenchmarkDataError("yahpo-lcbench needs onnxruntime: "
                                 "pip install 'metasearch[benchmarks]'") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BenchmarkDataError(f"{path}: not a loadable ONNX model: {exc}") from exc


@register_family
class YahpoLcbenchFamily(TaskFamily):
    """LCBench learning curves from YAHPO Gym's surrogate (Pfisterer et al., 2022)."""

    name = "yahpo-lcbench"
    description = "YAHPO Gym LCBench surrogate: MLP curves on 34 OpenML tasks (public, ONNX)"
    metric = "val_accuracy"
    direction = "maximize"
    max_budget = 52
    uses_torch = False

    @cached_property
    def folder(self) -> Path:
        """The data folder (model, config space, encoding)."""
        return find_data(self.name, "yahpo_lcbench", _complete, SOURCE)

    @cached_property
    def _config_space(self) -> dict[str, dict[str, Any]]:
        path = self.folder / "config_space.json"
        data = _read_json(path)
        try:
            return {str(p["name"]): p for p in data["hyperparameters"]}
        except (KeyError, TypeError) as exc:
            raise BenchmarkDataError(f"{path}: no list of 'hyperparameters' ({exc!r})") from exc

    @cached_property
    def codes(self) -> dict[str, int]:
        """OpenML task id -> the model's integer code for it."""
        path = self.folder / "encoding.json"
        try:
            return {str(k): int(v) for k, v in _read_json(path)[INSTANCE].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BenchmarkDataError(f"{path}: no {INSTANCE!r} encoding ({exc!r})") from exc

    def build_space(self) -> SearchSpace:
        path = self.folder / "config_space.json"
        specs = self._config_space
        missing = [n for n in CONT_ORDER if n not in specs]
        if missing or INSTANCE not in specs:
            raise BenchmarkDataError(f"{path}: lacks {missing or [INSTANCE]}")
        # Alphabetical, as ConfigSpace orders them, so the space's fingerprint is stable.
        return SearchSpace(params=tuple(_param(specs[n], path) for n in sorted(specs)
                                        if n not in (INSTANCE, FIDELITY)))

    def task_ids(self) -> list[str]:
        choices = self._config_space[INSTANCE].get("choices", [])
        unknown = [c for c in choices if str(c) not in self.codes]
        if unknown:
            raise BenchmarkDataError(f"{self.folder / 'encoding.json'}: no code for {unknown}")
        return [str(c) for c in choices]

    def make_task(self, task_id: str) -> Task:
        return YahpoLcbenchTask(self, task_id)


class YahpoLcbenchTask(Task):
    """One OpenML task of LCBench; evaluation is one batched surrogate prediction."""

    family: YahpoLcbenchFamily

    def compute_meta_features(self) -> dict[str, float]:
        return {}

    def prepare(self) -> None:
        _session((self.family.folder / "model.onnx").resolve())

    def predict(self, config: dict[str, Any], epochs: int) -> np.ndarray:
        """The surrogate's ``(epochs, 6)`` outputs (:data:`OUTPUTS`) for epochs 1..``epochs``."""
        session = _session((self.family.folder / "model.onnx").resolve())
        x_cont = np.array([[float(e), *(float(config[n]) for n in CONT_ORDER[1:])]
                           for e in range(1, epochs + 1)], dtype=np.float32)
        x_cat = np.full((epochs, 1), self.family.codes[self.id], dtype=np.int32)
        names = [i.name for i in session.get_inputs()]
        return np.asarray(session.run(None, {names[0]: x_cat, names[1]: x_cont})[0])

    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        for value in self.predict(config, budget)[:, OUTPUTS.index("val_accuracy")]:
            curve.step(float(value))
        return None
