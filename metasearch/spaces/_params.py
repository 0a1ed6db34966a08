"""Hyperparameters: float, log-float, int, categorical, each optionally conditional.

A conditional one is active when its :class:`~metasearch.spaces.Clause` holds.

Each hyperparameter knows four things the rest of metasearch needs: its Optuna distribution (so
any Optuna sampler can search it), how to check a value a user hands in, how to draw a value
uniformly, and its slice of the one numeric encoding that every model of the project reads.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from metasearch.errors import SpaceError
from metasearch.spaces._conditions import Clause, Condition, clause_from_dict
from metasearch.spaces._unit import unit_position, unit_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    import optuna

__all__ = ["Categorical", "Condition", "Float", "Hyperparameter", "Int"]


class Hyperparameter(ABC):
    """One named dimension of a search space.

    Subclasses are frozen dataclasses with at least ``name`` and ``condition``.
    """

    name: str
    condition: Clause | None

    @property
    def kind(self) -> str:
        """The kind as written in JSON: ``float``, ``int`` or ``categorical``."""
        return type(self).__name__.lower()

    @abstractmethod
    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution that samples this hyperparameter."""

    @abstractmethod
    def validate(self, value: Any) -> Any:
        """Return ``value`` as this hyperparameter's type, or raise :class:`SpaceError`."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """A value drawn uniformly (log-uniformly for log scales)."""

    @abstractmethod
    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask an Optuna trial for a value (define-by-run)."""

    @property
    @abstractmethod
    def encoding_length(self) -> int:
        """How many numbers :meth:`encode` writes."""

    @abstractmethod
    def encode(self, value: Any | None) -> list[float]:
        """Numbers in [0, 1] for ``value``; ``None`` means the parameter is inactive."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, read back by :func:`hyperparameter_from_dict`."""

    def _base_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.condition is not None:
            out["condition"] = self.condition.to_dict()
        return out

    def _out_of_space(self, value: Any, valid: str) -> SpaceError:
        return SpaceError(f"{self.name}={value!r} is outside the space: expected {valid}")


class _Numeric(Hyperparameter):
    """What :class:`Float` and :class:`Int` share: bounds, log scale, scaling to [0, 1]."""

    low: float
    high: float
    log: bool

    def _check_bounds(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise SpaceError(f"{self.name}: bounds [{self.low}, {self.high}] are not a range")
        if self.log and self.low <= 0:
            raise SpaceError(f"{self.name}: a log scale needs low > 0, got low={self.low}")

    def _unit(self, value: float) -> float:
        """Map ``value`` to [0, 1] on the parameter's own scale."""
        return unit_position(value, self.low, self.high, self.log)

    def _check_number(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise self._out_of_space(value, f"a number in [{self.low}, {self.high}]")
        number = float(value)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            raise self._out_of_space(value, f"a number in [{self.low}, {self.high}]")
        return number

    @property
    def encoding_length(self) -> int:
        # A conditional parameter adds an "is active" flag so that "inactive" and "at the
        # lower bound" encode differently.
        return 1 if self.condition is None else 2

    def encode(self, value: Any | None) -> list[float]:
        if value is None:
            return [0.0] * self.encoding_length
        unit = self._unit(float(value))
        return [unit] if self.condition is None else [unit, 1.0]


@dataclass(frozen=True)
class Float(_Numeric):
    """A real-valued hyperparameter in ``[low, high]``, on a log scale when ``log``."""

    name: str
    low: float
    high: float
    log: bool = False
    condition: Clause | None = None

    def __post_init__(self) -> None:
        self._check_bounds()

    def distribution(self) -> optuna.distributions.BaseDistribution:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log)

    def validate(self, value: Any) -> float:
        return self._check_number(value)

    def sample(self, rng: np.random.Generator) -> float:
        return unit_value(float(rng.random()), self.low, self.high, self.log)

    def suggest(self, trial: optuna.Trial) -> float:
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        return {**self._base_dict(), "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Int(_Numeric):
    """An integer hyperparameter in ``[low, high]`` (a multiple of ``step`` from ``low``)."""

    name: str
    low: int
    high: int
    log: bool = False
    step: int = 1
    condition: Clause | None = None

    def __post_init__(self) -> None:
        self._check_bounds()
        if self.step < 1 or (self.log and self.step != 1):
            raise SpaceError(f"{self.name}: step={self.step} must be >= 1 (and 1 on a log scale)")

    def distribution(self) -> optuna.distributions.BaseDistribution:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def validate(self, value: Any) -> int:
        number = self._check_number(value)
        if number != int(number) or (int(number) - self.low) % self.step:
            raise self._out_of_space(value, f"an integer in [{self.low}, {self.high}]")
        return int(number)

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            return round(unit_value(float(rng.random()), self.low, self.high, True))
        n_values = (self.high - self.low) // self.step + 1
        return int(self.low + self.step * int(rng.integers(n_values)))

    def suggest(self, trial: optuna.Trial) -> int:
        return trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step)

    def to_dict(self) -> dict[str, Any]:
        out = {**self._base_dict(), "low": self.low, "high": self.high, "log": self.log}
        return {**out, "step": self.step}


@dataclass(frozen=True)
class Categorical(Hyperparameter):
    """A choice among ``choices`` (str, int, float, bool or None), encoded one-hot."""

    name: str
    choices: tuple[Any, ...]
    condition: Clause | None = None

    def __post_init__(self) -> None:
        if not self.choices or len(set(self.choices)) != len(self.choices):
            raise SpaceError(f"{self.name}: choices {self.choices!r} must be non-empty, unique")

    def distribution(self) -> optuna.distributions.BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.choices)

    def validate(self, value: Any) -> Any:
        for choice in self.choices:
            # bool is an int in Python: keep True from matching a choice of 1.
            if value == choice and isinstance(value, bool) == isinstance(choice, bool):
                return choice
        raise self._out_of_space(value, f"one of {list(self.choices)}")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def suggest(self, trial: optuna.Trial) -> Any:
        return trial.suggest_categorical(self.name, self.choices)

    @property
    def encoding_length(self) -> int:
        return len(self.choices)

    def encode(self, value: Any | None) -> list[float]:
        out = [0.0] * len(self.choices)
        if value is not None:
            out[self.choices.index(self.validate(value))] = 1.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self._base_dict(), "choices": list(self.choices)}


_KINDS: dict[str, type[Hyperparameter]] = {"float": Float, "int": Int, "categorical": Categorical}


def hyperparameter_from_dict(data: Mapping[str, Any]) -> Hyperparameter:
    """Rebuild a hyperparameter from :meth:`Hyperparameter.to_dict` output."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind not in _KINDS:
        raise SpaceError(f"unknown hyperparameter kind {kind!r}: expected one of {list(_KINDS)}")
    condition = fields.pop("condition", None)
    if condition is not None:
        fields["condition"] = clause_from_dict(condition)
    if "choices" in fields:
        fields["choices"] = tuple(fields["choices"])
    try:
        return _KINDS[kind](**fields)
    except TypeError as exc:
        raise SpaceError(f"malformed {kind} hyperparameter {dict(data)!r}: {exc}") from exc
