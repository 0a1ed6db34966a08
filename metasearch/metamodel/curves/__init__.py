"""The learning-curve model: predicts a trial's final score from its first epochs.

Importing this package does not import torch: only :meth:`CurveModel.fit` does (prediction is
numpy), so the pruner and the CLI start fast.
"""

from __future__ import annotations

from metasearch.metamodel.curves._calibration import Recalibration
from metasearch.metamodel.curves._model import CurveConfig, CurveModel

__all__ = ["CurveConfig", "CurveModel", "Recalibration"]
