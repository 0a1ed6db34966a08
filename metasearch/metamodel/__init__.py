"""The meta-model: what metasearch learns from past tasks of a family.

Fitted on plain records (:class:`MetaDataset`), never on storage handles; it knows nothing of
Optuna (the samplers adapt it to Optuna's API).
"""

from __future__ import annotations

from metasearch.metamodel._artifact import ModelError
from metasearch.metamodel._component import Component, FitReport, TaskContext
from metasearch.metamodel._data import MetaDataset, TaskHistory
from metasearch.metamodel._features import (
    EncodingLayout,
    MetaFeatureScaler,
    TaskResponses,
    TaskSimilarity,
)
from metasearch.metamodel._portfolio import Portfolio
from metasearch.metamodel._prior import ConfigPrior, MarginalPrior
from metasearch.metamodel._split import TaskSplit
from metasearch.metamodel.curves import CurveConfig, CurveModel

__all__ = [
    "Component",
    "ConfigPrior",
    "CurveConfig",
    "CurveModel",
    "EncodingLayout",
    "FitReport",
    "MarginalPrior",
    "MetaDataset",
    "MetaFeatureScaler",
    "ModelError",
    "Portfolio",
    "TaskContext",
    "TaskHistory",
    "TaskResponses",
    "TaskSimilarity",
    "TaskSplit",
]
