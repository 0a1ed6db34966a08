"""Any YAHPO Gym scenario as a task family (Pfisterer et al., AutoML-Conf 2022).

A scenario folder (``config_space.json``, ``encoding.json``, ``model.onnx``, from
github.com/slds-lmu/yahpo_data v1.0.2) becomes a family ``yahpo-FOLDER``: the space is the
ConfigSpace JSON less the instance and fidelity parameters, conditions included; the instance's
values are the tasks; the first fidelity parameter is the curve axis (every integer of an
integer fidelity, :data:`FLOAT_STEPS` even steps of a real one, e.g. ``trainsize`` 0.1, 0.2, ...,
1.0), the other fidelities are held at their upper bound; the metric and its direction are the
scenario's (:mod:`metasearch.families._yahpo_scenarios`). The model runs with ``onnxruntime``, an
optional dependency imported only when a task is evaluated.

The model's input follows yahpo-gym's ``BenchmarkSet._config_to_xs``: categoricals (the
instance first) as their integer codes from ``encoding.json`` (``x_cat``, int32), numbers as
raw float32 values (``x_cont``); an inactive conditional parameter is fed as ``#na#``'s code
(a categorical) or 0 (a number), as YAHPO's models were trained. Conditions may be ConfigSpace
conjunctions (``rbv2_super``'s ``xgboost.eta`` is active when ``learner_id`` is ``xgboost``
AND ``xgboost.booster`` is ``dart`` or ``gbtree``). Inactive parameters are never drawn: the
space's conditions keep them out of every configuration; a configuration a forbidden clause
rules out is never drawn either, and fails unrun if an Optuna sampler proposes it.

Meta-features: none. The data ships only task ids (names, not quantities).
"""

from __future__ import annotations

import json
import os
from functools import cache, cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from metasearch.errors import SpaceError
from metasearch.evaluation import CurveRecorder
from metasearch.families._base import Task, TaskFamily
from metasearch.families._benchmarks import ENV_VAR, BenchmarkDataError, find_data
from metasearch.families._yahpo_scenarios import SCENARIOS, Scenario
from metasearch.spaces import SearchSpace, space_from_configspace

__all__ = ["FILES", "FLOAT_STEPS", "YahpoFamily", "YahpoTask", "fidelity_steps", "read_scenario",
           "scenario_class", "scenario_folders"]

FILES = ("model.onnx", "config_space.json", "encoding.json")
FLOAT_STEPS = 10
SOURCE = "YAHPO Gym's data (github.com/slds-lmu/yahpo_data, release v1.0.2)"
NA = "#na#"


def _complete(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in FILES)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: cannot be read as JSON: {exc}") from exc


def read_scenario(folder: Path) -> Scenario:
    """The folder's ``scenario.json`` if it has one, else YAHPO Gym's definition of its name.

    Raises:
        BenchmarkDataError: neither is there, or the ``scenario.json`` is malformed.
    """
    own = folder / "scenario.json"
    if own.is_file():
        try:
            return Scenario.from_dict(folder.name, _read_json(own))
        except (KeyError, TypeError, ValueError, StopIteration) as exc:
            raise BenchmarkDataError(f"{own}: not a YAHPO scenario definition: {exc!r}") from exc
    if folder.name not in SCENARIOS:
        raise BenchmarkDataError(
            f"{folder}: {folder.name!r} is not a YAHPO Gym v1.0.2 scenario (one of "
            f"{', '.join(sorted(SCENARIOS))}) and the folder has no scenario.json")
    return SCENARIOS[folder.name]


def scenario_folders(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The scenario folders under ``root`` (default ``$METASEARCH_BENCHMARKS``), by name.

    ``root`` may be a scenario folder, a folder of them (YAHPO's data layout), or a benchmark
    root holding such a folder named ``yahpo/``. A folder counts when it has the three files
    and is a known scenario or brings a ``scenario.json``.
    """
    base = root if root is not None else os.environ.get(ENV_VAR, "")
    if not base:
        return []
    base = Path(base).expanduser()
    candidates = [base, *_subfolders(base), *_subfolders(base / "yahpo")]
    found = {p.name: p for p in candidates
             if _complete(p) and (p.name in SCENARIOS or (p / "scenario.json").is_file())}
    return [found[name] for name in sorted(found)]


def _subfolders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


@cache
def _session(path: Path) -> Any:
    """One single-threaded onnxruntime session per model file and process."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BenchmarkDataError("YAHPO Gym families need onnxruntime: "
                                 "pip install 'metasearch[benchmarks]'") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BenchmarkDataError(f"{path}: not a loadable ONNX model: {exc}") from exc


class YahpoFamily(TaskFamily):
    """A YAHPO Gym scenario's surrogate as a family (subclassed per scenario).

    Attributes:
        scenario_name: the scenario (its folder's name, e.g. ``rbv2_rpart``).
        subfolders: where the folder is looked for under the data root, first match first.
    """

    scenario_name: ClassVar[str]
    subfolders: ClassVar[tuple[str, ...]] = ()
    uses_torch = False

    @cached_property
    def folder(self) -> Path:
        """The scenario's data folder (model, config space, encoding)."""
        where = self.subfolders or (f"yahpo/{self.scenario_name}", self.scenario_name)
        return find_data(self.name, where, self._accepts, SOURCE)

    def _accepts(self, path: Path) -> bool:
        """A complete folder named after the scenario (or one of :attr:`subfolders`), or one
        whose config space has the scenario's instance parameter (a renamed copy)."""
        if not _complete(path):
            return False
        names = {self.scenario_name, *(Path(s).name for s in self.subfolders)}
        instance = SCENARIOS.get(self.scenario_name, None)
        return path.name in names or (instance is not None and instance.instance is not None
                                      and f'"{instance.instance}"' in
                                      (path / "config_space.json").read_text())

    @cached_property
    def scenario(self) -> Scenario:
        """What the model reads and predicts: the folder's ``scenario.json``, else YAHPO
        Gym's definition of :attr:`scenario_name`."""
        folder = self.folder
        if (folder / "scenario.json").is_file() or self.scenario_name not in SCENARIOS:
            return read_scenario(folder)
        return SCENARIOS[self.scenario_name]

    @cached_property
    def config_space(self) -> dict[str, Any]:
        """The parsed ``config_space.json``."""
        data = _read_json(self.folder / "config_space.json")
        if not isinstance(data, dict) or not isinstance(data.get("hyperparameters"), list):
            raise BenchmarkDataError(f"{self.folder / 'config_space.json'}: no 'hyperparameters'")
        return data

    def _spec(self, name: str) -> dict[str, Any]:
        for spec in self.config_space["hyperparameters"]:
            if spec.get("name") == name:
                return dict(spec)
        raise BenchmarkDataError(f"{self.folder / 'config_space.json'}: lacks {name!r}, which "
                                 f"scenario {self.scenario.name!r} reads")

    @cached_property
    def encoding(self) -> dict[str, dict[str, int]]:
        """Each categorical input's value -> the model's integer code."""
        path = self.folder / "encoding.json"
        try:
            return {str(k): {str(v): int(c) for v, c in codes.items()}
                    for k, codes in _read_json(path).items()}
        except (AttributeError, TypeError, ValueError) as exc:
            raise BenchmarkDataError(f"{path}: not a map of value codes ({exc!r})") from exc

    def build_space(self) -> SearchSpace:
        instance = self.scenario.instance
        fixed = {*self.scenario.fidelity, *([instance] if instance is not None else [])}
        try:
            space = space_from_configspace(self.config_space, exclude=fixed)
        except SpaceError as exc:
            raise BenchmarkDataError(f"{self.folder / 'config_space.json'}: {exc}") from exc
        read = {*self.scenario.cont, *self.scenario.cat}
        unread = [n for n in space.names if n not in read]
        if unread:
            raise BenchmarkDataError(f"{self.folder}: the model of {self.scenario.name!r} does "
                                     f"not read {unread}")
        return space

    def task_ids(self) -> list[str]:
        instance = self.scenario.instance
        if instance is None:
            return list(self.scenario.instances)
        choices = [str(c) for c in self._spec(instance).get("choices", [])]
        codes = self.encoding.get(instance, {})
        unknown = [c for c in choices if c not in codes]
        if unknown:
            raise BenchmarkDataError(f"{self.folder / 'encoding.json'}: no code for {unknown}")
        return choices

    def make_task(self, task_id: str) -> Task:
        return YahpoTask(self, task_id)

    @cached_property
    def fidelity_steps(self) -> np.ndarray:
        """The curve axis's value at each budget step 1..max_budget."""
        return fidelity_steps(self._spec(self.scenario.fidelity[0]))

    def describe(self) -> dict[str, Any]:
        axis = self.scenario.fidelity[0] if self.scenario.fidelity else None
        return {**super().describe(), "scenario": self.scenario.name, "curve_axis": axis}


def fidelity_steps(spec: dict[str, Any]) -> np.ndarray:
    """Every integer of an integer fidelity; :data:`FLOAT_STEPS` even steps up to a real one's
    upper bound (none below its lower bound)."""
    low, high = float(spec["lower"]), float(spec["upper"])
    if spec.get("type") == "uniform_int":
        return np.arange(int(low), int(high) + 1, dtype=np.float64)
    return np.maximum(low, high * np.arange(1, FLOAT_STEPS + 1) / FLOAT_STEPS)


class YahpoTask(Task):
    """One instance of a scenario; evaluation is one batched surrogate prediction."""

    family: YahpoFamily

    def compute_meta_features(self) -> dict[str, float]:
        return {}

    def prepare(self) -> None:
        _session((self.family.folder / "model.onnx").resolve())

    def inputs(self, config: dict[str, Any], steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The model's ``(x_cat, x_cont)`` for ``config`` at budget steps 1..``steps``.

        ``config`` is validated first, so a value given for an inactive parameter (one whose
        condition fails) is dropped and fed as inactive, never as a value.
        """
        family, scenario = self.family, self.family.scenario
        fixed: dict[str, Any] = {f: float(family._spec(f)["upper"]) for f in scenario.fidelity}
        if scenario.instance is not None:
            fixed[scenario.instance] = self.id
        values = {**family.space.validate(config), **fixed}
        cats = [self._code(name, values.get(name)) for name in scenario.cat]
        conts = [float(values.get(name, 0.0)) for name in scenario.cont]
        x_cont = np.tile(np.asarray(conts, dtype=np.float32), (steps, 1))
        if scenario.fidelity:
            x_cont[:, scenario.cont.index(scenario.fidelity[0])] = family.fidelity_steps[:steps]
        return np.tile(np.asarray(cats, dtype=np.int32), (steps, 1)), x_cont

    def _code(self, name: str, value: Any) -> int:
        codes = self.family.encoding.get(name)
        key = NA if value is None else str(value)
        if codes is None or key not in codes:
            raise BenchmarkDataError(f"{self.family.folder / 'encoding.json'}: no code for "
                                     f"{name}={key!r}")
        return codes[key]

    def predict(self, config: dict[str, Any], steps: int) -> np.ndarray:
        """The model's ``(steps, outputs)`` predictions for budget steps 1..``steps``."""
        session = _session((self.family.folder / "model.onnx").resolve())
        x_cat, x_cont = self.inputs(config, steps)
        names = [i.name for i in session.get_inputs()]
        out = np.asarray(session.run(None, {names[0]: x_cat, names[1]: x_cont})[0])
        if out.shape[1] != len(self.family.scenario.outputs):
            raise BenchmarkDataError(f"{self.family.folder / 'model.onnx'}: {out.shape[1]} "
                                     f"outputs, scenario defines {self.family.scenario.outputs}")
        return out

    def _train(
        self, config: dict[str, Any], budget: int, device: str, seed: int, curve: CurveRecorder
    ) -> float | None:
        column = self.family.scenario.outputs.index(self.family.metric)
        for value in self.predict(config, budget)[:, column]:
            curve.step(float(value))
        return None


def scenario_class(folder: Path) -> type[YahpoFamily]:
    """A :class:`YahpoFamily` subclass for the scenario in ``folder``, named ``yahpo-NAME``.

    Its budget is read from the folder now (the family's class attributes are fixed).

    Raises:
        BenchmarkDataError: the folder's scenario or fidelity cannot be read.
    """
    scenario = read_scenario(folder)
    max_budget = 1
    if scenario.fidelity:
        specs = {s.get("name"): s for s in _read_json(folder / "config_space.json")
                 .get("hyperparameters", [])}
        if scenario.fidelity[0] not in specs:
            raise BenchmarkDataError(f"{folder / 'config_space.json'}: lacks the fidelity "
                                     f"{scenario.fidelity[0]!r}")
        max_budget = len(fidelity_steps(specs[scenario.fidelity[0]]))
    attrs = {"name": f"yahpo-{scenario.name}", "scenario_name": scenario.name,
             "metric": scenario.metric, "direction": scenario.direction,
             "max_budget": max_budget, "__module__": __name__,
             "description": f"YAHPO Gym {scenario.name} surrogate (public, ONNX)"}
    return type(f"Yahpo_{scenario.name}", (YahpoFamily,), attrs)

