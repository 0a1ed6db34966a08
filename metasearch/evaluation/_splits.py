"""A classification task's train, validation and test arrays (numpy; torch only on demand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["DataSplits"]


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test arrays of a classification task (features float, labels int)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def tensors(self, device: str) -> tuple[torch.Tensor, ...]:
        """All six arrays as tensors on ``device`` (float32 features, int64 labels)."""
        import torch

        arrays = (self.x_train, self.y_train, self.x_valid, self.y_valid, self.x_test, self.y_test)
        return tuple(
            torch.as_tensor(a, dtype=torch.long if i % 2 else torch.float32, device=device)
            for i, a in enumerate(arrays)
        )
