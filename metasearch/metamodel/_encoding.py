"""Which columns of a space's one encoding belong to which parameter, and their unit scale.

:class:`EncodingLayout` says which columns of the space's one encoding belong to which
hyperparameter or cell edge, so models can weigh, perturb and decode each on its own scale;
:func:`to_unit` and :func:`from_unit` map a numeric hyperparameter's values to and from [0, 1].
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.spaces import (
    Categorical,
    Float,
    Hyperparameter,
    Int,
    SearchSpace,
    unit_position,
    unit_value,
)

__all__ = ["Block", "EncodingLayout", "from_unit", "to_unit"]


# -- the encoding's layout -------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """The columns of one flat parameter (a hyperparameter or one cell edge) in the encoding.

    Attributes:
        name: the flat parameter's name (a cell edge is ``{cell}_edge_{i}_{j}``).
        kind: ``numeric`` (one unit-scale column), ``categorical`` or ``edge`` (one-hot).
        start: first column.
        stop: one past the last value column.
        active: for a conditional numeric parameter, the column of its "active" flag.
        param: the hyperparameter (None for a cell edge).
        cell: for an edge, the index of its cell in ``space.cells``.
    """

    name: str
    kind: str
    start: int
    stop: int
    active: int | None = None
    param: Hyperparameter | None = None
    cell: int | None = None

    @property
    def width(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class EncodingLayout:
    """Every flat parameter's block of :meth:`SearchSpace.encode`, in encoding order."""

    space: SearchSpace
    blocks: tuple[Block, ...]

    @classmethod
    def of(cls, space: SearchSpace) -> EncodingLayout:
        """The layout of ``space`` (cached: spaces are frozen and hashable)."""
        return _layout(space)

    @classmethod
    def build(cls, space: SearchSpace) -> EncodingLayout:
        blocks: list[Block] = []
        col = 0
        for param in space.params:
            if isinstance(param, Categorical):
                blocks.append(Block(param.name, "categorical", col, col + len(param.choices),
                                    param=param))
            else:
                active = col + 1 if param.condition is not None else None
                blocks.append(Block(param.name, "numeric", col, col + 1, active, param))
            col += param.encoding_length
        for c, cell in enumerate(space.cells):
            for name in cell.param_names:
                blocks.append(Block(name, "edge", col, col + len(cell.ops), cell=c))
                col += len(cell.ops)
        return cls(space, tuple(blocks))

    def distance_scale(self) -> np.ndarray:
        """Per-column factors so that each parameter or edge can move a distance of at most 1.

        A one-hot mismatch moves two columns by 1 (squared distance 2), so one-hot columns are
        scaled by 1/sqrt(2); a numeric column spans [0, 1] already.
        """
        scale = np.ones(self.space.encoding_length)
        for block in self.blocks:
            if block.kind != "numeric":
                scale[block.start:block.stop] = 1.0 / math.sqrt(2.0)
        return scale

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """The configuration an encoding stands for (cells as their canonical representative).

        Raises:
            SpaceError: when ``x`` does not decode to a valid configuration.
        """
        flat: dict[str, Any] = {}
        for block in self.blocks:
            values = x[block.start:block.stop]
            if block.kind == "numeric":
                if block.active is None or x[block.active] > 0.5:
                    flat[block.name] = from_unit(block.param, float(values[0]))
            elif values.max() > 0.5:
                flat[block.name] = self.choices(block)[int(np.argmax(values))]
        return self.space.unflatten(flat)

    def choices(self, block: Block) -> tuple[Any, ...]:
        """The values a categorical or edge block chooses among (one per column)."""
        if block.kind == "edge":
            return self.space.cells[block.cell or 0].ops
        return block.param.choices  # type: ignore[union-attr]


@functools.lru_cache(maxsize=32)
def _layout(space: SearchSpace) -> EncodingLayout:
    return EncodingLayout.build(space)


def to_unit(param: Hyperparameter | None, value: float) -> float:
    """Where ``value`` lies on a numeric hyperparameter's unit scale, unclipped (may be < 0).

    Unlike ``param.encode``, a value outside the bounds is allowed.
    """
    if not isinstance(param, (Float, Int)):
        raise MetasearchError(f"to_unit needs a numeric hyperparameter, got {param!r}")
    return unit_position(value, param.low, param.high, param.log)


def from_unit(param: Hyperparameter | None, u: float) -> float | int:
    """The value of a numeric hyperparameter at unit-scale position ``u`` (inverse of encode).

    Integers are rounded to their step; the result is clipped into the bounds.
    """
    if not isinstance(param, (Float, Int)):
        raise MetasearchError(f"from_unit needs a numeric hyperparameter, got {param!r}")
    if isinstance(param, Int):
        return int(unit_value(u, param.low, param.high, param.log, param.step))
    return float(unit_value(u, param.low, param.high, param.log))
