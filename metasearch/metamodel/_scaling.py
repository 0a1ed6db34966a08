"""Task meta-features on comparable scales: counts logged, robust units, holes imputed and flagged.

Meta-features mix counts that span decades (rows, features, classes) with bounded rates (class
entropy, landmarker accuracy), and tables of past tasks have holes (an OpenML statistic that is
undefined for one data set). Every distance between tasks goes through :class:`MetaFeatureScaler`
first, so no feature dominates by its units and a hole is neither a crash nor a silent zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError

__all__ = ["MetaFeatureScaler", "UnknownFeatureWarning"]

_LOG_DECADES = 1.5
"""A feature whose training values span more than this many decades is signed-log scaled."""

_COUNT_RATIO = 4.0
"""A non-negative integer feature whose largest value is this many times its smallest (at least
1) is a count, compared by ratio (log scale) whatever its span."""

_MIN_SHARE = 0.5
"""Share of the training tasks that must have a feature for it to be used."""


class UnknownFeatureWarning(UserWarning):
    """A meta-feature of the new task that the model was not trained with (it is not used)."""


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise MetasearchError(f"meta-feature {name!r} of {where} is not a number: {value!r}")
    return float(value)


def _checked(features: Mapping[str, Any], name: str, where: str) -> float:
    """A new task's feature value: a number, finite (NaN or inf is an error naming it)."""
    value = _number(features[name], name, where)
    if not math.isfinite(value):
        raise MetasearchError(f"meta-feature {name!r} of {where} is not finite: {value!r}")
    return value


def _stored(features: Mapping[str, Any], name: str, where: str) -> float:
    """A training task's feature value; absent, None or NaN is a hole (NaN), inf an error."""
    value = features.get(name)
    if value is None:
        return math.nan
    number = _number(value, name, where)
    if math.isinf(number):
        raise MetasearchError(f"meta-feature {name!r} of {where} is not finite: {value!r}")
    return number


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _is_log(column: np.ndarray) -> bool:
    """Whether a training column is compared on a log scale (heavy-tailed, or a count)."""
    present = column[np.isfinite(column)]
    if present.size == 0:
        return False
    magnitude = np.log10(1.0 + np.abs(present))
    if float(np.ptp(magnitude)) > _LOG_DECADES:
        return True
    integral = bool((present >= 0).all() and (present == np.round(present)).all())
    return integral and present.max() >= _COUNT_RATIO * max(present.min(), 1.0)


class MetaFeatureScaler:
    """Robust per-feature scaling of task meta-features, fitted on the training tasks.

    A feature is compared on a log scale, ``sign(v) log(1 + |v|)``, when its training values
    span more than 1.5 decades or it is a count (non-negative integers spanning a factor of 4
    or more: 100 and 1,000 rows differ as 1,000 and 10,000 do). Every feature is then centred
    on its median and divided by its IQR / 1.349 (the standard deviation for Gaussian data,
    but not pulled by one odd task); a constant feature gets scale 1. A feature is used when
    at least half the training tasks have it; a task without it (absent, None or NaN in a
    stored table) sits at the median (0) and, for every feature that some training task
    lacks, one more column flags the hole (1 missing, 0 present), so tasks with the same
    holes count as alike. In a new task a missing feature is imputed and flagged the same
    way, while NaN or inf given explicitly is an error naming it.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.flagged: list[str] = []
        self._log = np.zeros(0, dtype=bool)
        self._center = np.zeros(0)
        self._scale = np.zeros(0)

    @property
    def columns(self) -> list[str]:
        """Names of the scaled vector's columns: the features, then the missing flags."""
        return [*self.names, *(f"{name} missing" for name in self.flagged)]

    def fit(self, features: Mapping[str, Mapping[str, Any]]) -> MetaFeatureScaler:
        """Fit on ``{task_id: {feature: value}}``."""
        counts: dict[str, int] = {}
        for stored in features.values():
            for name in stored:
                counts[name] = counts.get(name, 0) + 1
        need = max(1, math.ceil(_MIN_SHARE * len(features)))
        candidates = sorted(n for n, c in counts.items() if c >= need)
        raw = self.raw(features, candidates)
        self.names = [n for i, n in enumerate(candidates) if np.isfinite(raw[:, i]).sum() >= need]
        raw = raw[:, [candidates.index(n) for n in self.names]]
        self.flagged = [n for i, n in enumerate(self.names) if not np.isfinite(raw[:, i]).all()]
        self._log = np.array([_is_log(raw[:, i]) for i in range(len(self.names))], dtype=bool)
        values = np.where(self._log, _signed_log(raw), raw)
        width = len(self.names)
        self._center, q25 = np.zeros(width), np.zeros(width)
        q75, std = np.ones(width), np.ones(width)
        if len(raw) and self.names:
            self._center = np.nanmedian(values, axis=0)
            q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
            std = np.nanstd(values, axis=0)
        scale = (q75 - q25) / 1.349
        self._scale = np.where(scale > 1e-12, scale, np.where(std > 1e-12, std, 1.0))
        return self

    @staticmethod
    def raw(features: Mapping[str, Mapping[str, Any]], names: list[str]) -> np.ndarray:
        """Tasks x ``names`` matrix of stored values, NaN for a hole."""
        return np.array([[_stored(f, n, f"task {task!r}") for n in names]
                         for task, f in features.items()]).reshape(len(features), len(names))

    def transform(self, features: Mapping[str, Any], where: str = "the new task") -> np.ndarray:
        """The scaled vector of a new task's features (missing ones imputed and flagged).

        Raises:
            MetasearchError: naming a feature that is NaN, infinite or not a number.
        """
        raw = np.array([_checked(features, n, where) if n in features else math.nan
                        for n in self.names])
        return self._scaled(raw)

    def transform_stored(self, features: Mapping[str, Any], where: str) -> np.ndarray:
        """The scaled vector of a training task's features (holes: None or NaN allowed)."""
        return self._scaled(self.raw({where: features}, self.names)[0])

    def _scaled(self, raw: np.ndarray) -> np.ndarray:
        present = np.isfinite(raw)
        filled = np.where(present, raw, 0.0)
        values = np.where(self._log, _signed_log(filled), filled)
        scaled = np.where(present, (values - self._center) / self._scale, 0.0)
        flags = np.array([0.0 if present[self.names.index(n)] else 1.0 for n in self.flagged])
        return np.concatenate([scaled, flags])

    def unknown(self, features: Mapping[str, Any]) -> list[str]:
        """The names in ``features`` that the scaler was not fitted with (sorted)."""
        return sorted(set(features) - set(self.names))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"log": self._log.astype(np.int8), "center": self._center, "scale": self._scale}

    def settings(self) -> dict[str, Any]:
        return {"names": list(self.names), "flagged": list(self.flagged)}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
                ) -> MetaFeatureScaler:
        scaler = cls()
        scaler.names = [str(n) for n in settings["names"]]
        scaler.flagged = [str(n) for n in settings.get("flagged", [])]
        scaler._log = np.asarray(arrays["log"]).astype(bool)
        scaler._center = np.asarray(arrays["center"], dtype=np.float64)
        scaler._scale = np.asarray(arrays["scale"], dtype=np.float64)
        return scaler
