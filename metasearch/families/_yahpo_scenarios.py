"""YAHPO Gym v1.0.2's scenario definitions: what each ONNX model reads and predicts.

A scenario folder holds ``config_space.json``, ``encoding.json`` and ``model.onnx``; what the
model's inputs and outputs mean is not in the folder but in the ``yahpo-gym`` package
(``yahpo_gym/benchmarks/{lcbench,rbv2,iaml,nb301,fcnet,taskset}.py``, Apache-2.0, Pfisterer et
al., AutoML-Conf 2022). They are transcribed here from yahpo-gym 1.0.2 rather than imported: the
package pins ``numpy<2`` and ``ConfigSpace<=0.6.1``, which this project (numpy 2, Python 3.11)
cannot install beside its own dependencies, and the definitions are plain lists.

Per scenario: ``outputs`` (the model's output columns, in order) and whether each is
minimised, ``cont``/``cat`` (the model's two inputs, in order; the instance is a categorical
input), the ``fidelity`` parameters (the first is the curve axis; the others are held at their
upper bound, the full fidelity), the ``instance`` parameter (the tasks) and the ``metric``.
yahpo-gym names no single metric; ours is the scenario's first output that is neither a run
time nor a memory size, which is the target of YAHPO's own single-objective suite
(YAHPO-SO: ``acc`` for ``rbv2_*``, ``val_accuracy`` for ``lcbench`` and ``nb301``).

A folder may bring its own definition in a ``scenario.json`` with the same keys (for a
scenario newer than v1.0.2); it takes precedence over this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SCENARIOS", "Scenario"]


@dataclass(frozen=True)
class Scenario:
    """What one YAHPO Gym scenario's model reads and predicts."""

    name: str
    outputs: tuple[str, ...]
    minimize: tuple[bool, ...]
    cont: tuple[str, ...]
    cat: tuple[str, ...]
    fidelity: tuple[str, ...]
    instance: str | None
    metric: str
    instances: tuple[str, ...] = ()

    @property
    def direction(self) -> str:
        """``minimize`` or ``maximize``: the metric's direction."""
        return "minimize" if self.minimize[self.outputs.index(self.metric)] else "maximize"

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> Scenario:
        """A scenario from yahpo-gym's keys (``y_names``, ``y_minimize``, ``cont_names``,
        ``cat_names``, ``fidelity_params``, ``instance_names``) plus ``metric``.

        Raises:
            KeyError, TypeError, ValueError: a key is missing or malformed.
        """
        outputs = tuple(str(y) for y in data["y_names"])
        minimize = tuple(bool(m) for m in data["y_minimize"])
        metric = str(data.get("metric") or _first_quality(outputs, data))
        if len(minimize) != len(outputs) or metric not in outputs:
            raise ValueError(f"y_minimize {minimize} must match y_names {outputs}, and the "
                             f"metric {metric!r} be one of them")
        instance = data.get("instance_names")
        return cls(name, outputs, minimize, tuple(data["cont_names"]), tuple(data["cat_names"]),
                   tuple(data["fidelity_params"]), None if instance is None else str(instance),
                   metric, tuple(str(i) for i in data.get("instances", ())))


def _first_quality(outputs: tuple[str, ...], data: Mapping[str, Any]) -> str:
    """The first output that is not the run time or memory (yahpo-gym's ``*_name`` keys)."""
    cost = {data.get("runtime_name"), data.get("memory_name")}
    return next(y for y in outputs if y not in cost)


_RBV2 = {
    "y_names": ["acc", "bac", "auc", "brier", "f1", "logloss", "timetrain", "timepredict",
                "memory"],
    "y_minimize": [False, False, False, True, True, True, True, True, True],
    "fidelity_params": ["trainsize", "repl"],
    "instance_names": "task_id",
    "runtime_name": "timetrain",
    "memory_name": "memory",
}
_RBV2_CONT = {
    "rbv2_svm": ["cost", "gamma", "tolerance", "degree"],
    "rbv2_ranger": ["num.trees", "sample.fraction", "mtry.power", "min.node.size",
                    "num.random.splits"],
    "rbv2_rpart": ["cp", "maxdepth", "minbucket", "minsplit"],
    "rbv2_glmnet": ["alpha", "s"],
    "rbv2_xgboost": ["nrounds", "eta", "gamma", "lambda", "alpha", "subsample", "max_depth",
                     "min_child_weight", "colsample_bytree", "colsample_bylevel", "rate_drop",
                     "skip_drop"],
    "rbv2_aknn": ["k", "M", "ef", "ef_construction"],
    "rbv2_super": ["svm.cost", "svm.gamma", "svm.tolerance", "svm.degree", "glmnet.alpha",
                   "glmnet.s", "rpart.cp", "rpart.maxdepth", "rpart.minbucket", "rpart.minsplit",
                   "ranger.num.trees", "ranger.sample.fraction", "ranger.mtry.power",
                   "ranger.min.node.size", "ranger.num.random.splits", "aknn.k", "aknn.M",
                   "aknn.ef", "aknn.ef_construction", "xgboost.nrounds", "xgboost.eta",
                   "xgboost.gamma", "xgboost.lambda", "xgboost.alpha", "xgboost.subsample",
                   "xgboost.max_depth", "xgboost.min_child_weight",
                   "xgboost.colsample_bytree", "xgboost.colsample_bylevel",
                   "xgboost.rate_drop", "xgboost.skip_drop"],
}
_RBV2_CAT = {
    "rbv2_svm": ["kernel"], "rbv2_ranger": ["respect.unordered.factors", "splitrule"],
    "rbv2_rpart": [], "rbv2_glmnet": [], "rbv2_xgboost": ["booster"], "rbv2_aknn": ["distance"],
    "rbv2_super": ["learner_id", "svm.kernel", "ranger.respect.unordered.factors",
                   "ranger.splitrule", "aknn.distance", "xgboost.booster"],
}
_IAML = {
    "y_names": ["mmce", "f1", "auc", "logloss", "ramtrain", "rammodel", "rampredict",
                "timetrain", "timepredict", "mec", "ias", "nf"],
    "y_minimize": [True, False, False, True, True, True, True, True, True, True, True, True],
    "fidelity_params": ["trainsize"],
    "instance_names": "task_id",
    "runtime_name": "timetrain",
    "memory_name": "rammodel",
}
_IAML_CONT = {
    "iaml_ranger": ["num.trees", "sample.fraction", "mtry.ratio", "min.node.size",
                    "num.random.splits"],
    "iaml_rpart": ["cp", "maxdepth", "minbucket", "minsplit"],
    "iaml_glmnet": ["alpha", "s"],
    "iaml_xgboost": _RBV2_CONT["rbv2_xgboost"],
    "iaml_super": ["ranger.num.trees", "ranger.sample.fraction", "ranger.mtry.ratio",
                   "ranger.min.node.size", "ranger.num.random.splits", "rpart.cp",
                   "rpart.maxdepth", "rpart.minbucket", "rpart.minsplit", "glmnet.alpha",
                   "glmnet.s", *_RBV2_CONT["rbv2_super"][19:]],
}
_IAML_CAT = {
    "iaml_ranger": ["replace", "respect.unordered.factors", "splitrule"], "iaml_rpart": [],
    "iaml_glmnet": [], "iaml_xgboost": ["booster"],
    "iaml_super": ["learner", "ranger.replace", "ranger.respect.unordered.factors",
                   "ranger.splitrule", "xgboost.booster"],
}
_NB301_EDGES = [f"NetworkSelectorDatasetInfo_COLON_darts_COLON_edge_{cell}_{i}"
                for cell in ("normal", "reduce") for i in range(14)]
_NB301_INPUTS = [f"NetworkSelectorDatasetInfo_COLON_darts_COLON_inputs_node_{cell}_{i}"
                 for cell in ("normal", "reduce") for i in (3, 4, 5)]


def _definitions() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, cont in _RBV2_CONT.items():
        out[name] = {**_RBV2, "cont_names": [*cont, "trainsize", "repl"],
                     "cat_names": ["task_id", *_RBV2_CAT[name], "num.impute.selected.cpo"]}
    for name, cont in _IAML_CONT.items():
        out[name] = {**_IAML, "cont_names": [*cont, "trainsize"],
                     "cat_names": ["task_id", *_IAML_CAT[name]]}
    out["lcbench"] = {
        "y_names": ["time", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy",
                    "test_cross_entropy", "test_balanced_accuracy"],
        "y_minimize": [True, False, True, False, True, False],
        "cont_names": ["epoch", "batch_size", "learning_rate", "momentum", "weight_decay",
                       "num_layers", "max_units", "max_dropout"],
        "cat_names": ["OpenML_task_id"], "instance_names": "OpenML_task_id",
        "fidelity_params": ["epoch"], "runtime_name": "time"}
    # nb301 has no instance input: its one task is CIFAR-10 (yahpo-gym drops "dataset").
    out["nb301"] = {
        "y_names": ["val_accuracy", "runtime"], "y_minimize": [False, True],
        "cont_names": ["epoch"], "cat_names": [*_NB301_EDGES, *_NB301_INPUTS],
        "fidelity_params": ["epoch"], "runtime_name": "runtime", "instance_names": None,
        "instances": ["CIFAR10"]}
    out["fcnet"] = {
        "y_names": ["valid_loss", "valid_mse", "runtime", "n_params"],
        "y_minimize": [True, True, True, True],
        "cont_names": ["epoch", "replication", "batch_size", "dropout_1", "dropout_2",
                       "init_lr", "n_units_1", "n_units_2"],
        "cat_names": ["task", "activation_fn_1", "activation_fn_2", "lr_schedule"],
        "instance_names": "task", "fidelity_params": ["epoch"], "runtime_name": "runtime"}
    # yahpo-gym 1.0.2 lists six directions for taskset's four (loss) outputs; all are losses.
    out["taskset"] = {
        "y_names": ["train", "valid1", "valid2", "test"], "y_minimize": [True] * 4,
        "cont_names": ["epoch", "replication", "learning_rate", "beta1", "beta2", "epsilon",
                       "l1", "l2", "linear_decay", "exponential_decay"],
        "cat_names": ["task_name", "optimizer"], "instance_names": "task_name",
        "fidelity_params": ["epoch", "replication"], "metric": "valid1"}
    return out


SCENARIOS: dict[str, Scenario] = {
    name: Scenario.from_dict(name, data) for name, data in _definitions().items()
}
"""Every YAHPO Gym v1.0.2 scenario, by its folder name."""
