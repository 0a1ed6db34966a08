"""The meta-model: what metasearch learns from past tasks of a family.

Fitted on plain records (:class:`MetaDataset`), never on storage handles; it knows nothing of
Optuna (the samplers adapt it to Optuna's API).
"""

from __future__ import annotations

from metasearch.metamodel._artifact import ModelError, check_model_target
from metasearch.metamodel._component import Component, FitReport, TaskContext
from metasearch.metamodel._data import MetaDataset, TaskHistory
from metasearch.metamodel._features import (
    EncodingLayout,
    MetaFeatureScaler,
    TaskResponses,
    TaskSimilarity,
)
from metasearch.metamodel._in_warehouse import load_from_warehouse, save_to_warehouse
from metasearch.metamodel._model import COMPONENT_KINDS, MetaModel, component_class
from metasearch.metamodel._portfolio import Portfolio
from metasearch.metamodel._prior import ConfigPrior
from metasearch.metamodel._scaling import UnknownFeatureWarning
from metasearch.metamodel._similarity import warn_unknown_features
from metasearch.metamodel._source import load_dataset, warehouse_snapshot
from metasearch.metamodel._split import TaskSplit
from metasearch.metamodel.curves import CurveConfig, CurveModel

__all__ = [
    "COMPONENT_KINDS",
    "Component",
    "ConfigPrior",
    "CurveConfig",
    "CurveModel",
    "EncodingLayout",
    "FitReport",
    "MetaDataset",
    "MetaFeatureScaler",
    "MetaModel",
    "ModelError",
    "Portfolio",
    "TaskContext",
    "TaskHistory",
    "TaskResponses",
    "TaskSimilarity",
    "TaskSplit",
    "UnknownFeatureWarning",
    "check_model_target",
    "component_class",
    "load_dataset",
    "load_from_warehouse",
    "save_to_warehouse",
    "warehouse_snapshot",
    "warn_unknown_features",
]

_LAZY = ("FSBOConfig", "FSBOPredictor", "FSBOSurrogate", "RGPEPredictor", "RGPESurrogate")


def __getattr__(name: str) -> object:
    """The surrogates load on first use: FSBO needs torch, which listing commands must not."""
    if name in _LAZY:
        from metasearch.metamodel import surrogates

        return getattr(surrogates, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
