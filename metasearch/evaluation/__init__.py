"""Evaluation: the device, the curve recorder, and the PyTorch training loops shared by families.

:mod:`metasearch.evaluation.torch_training` trains one configuration at a time;
:mod:`metasearch.evaluation.batched` trains K of one shape as one stacked program (HFTA). torch
is imported only by those two modules and when a CUDA device is resolved, never by importing
this package.
"""

from __future__ import annotations

from metasearch.evaluation._device import check_device, parse_device, resolve_device
from metasearch.evaluation._result import CurveRecorder, EvalResult, ReportFn, TrialFailed
from metasearch.evaluation._splits import DataSplits

__all__ = [
    "CurveRecorder",
    "DataSplits",
    "EvalResult",
    "ReportFn",
    "TrialFailed",
    "check_device",
    "parse_device",
    "resolve_device",
]
