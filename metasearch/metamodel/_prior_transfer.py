"""Cross-family transfer: per-parameter marginals of learned priors carried to a new space.

:class:`MarginalPrior` carries the per-parameter parts of :class:`ConfigPrior` priors to
another family whose space shares some parameters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import logsumexp

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import Component, FitReport, TaskContext, sub_arrays
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._encoding import Block, EncodingLayout, from_unit, to_unit
from metasearch.metamodel._kernels import (
    _LOG_SQRT_2PI,
    _check_encodings,
    _log_mass,
    _truncated_normal,
    _uniform_log_density,
    _unit_and_active,
)
from metasearch.spaces import SearchSpace

if TYPE_CHECKING:
    from metasearch.metamodel._prior import ConfigPrior

__all__ = ["MarginalPrior"]


# -- cross-family transfer -------------------------------------------------------------------

_MIN_MASS = 0.05
"""A carried numeric marginal must put at least this much mass inside the target's bounds."""


def _matching_block(target: EncodingLayout, block: Block, source: EncodingLayout
                    ) -> Block | None:
    """The source block ``block`` may inherit from: same name and kind (see MarginalPrior)."""
    found = next((b for b in source.blocks if b.name == block.name), None)
    if found is None or found.kind != block.kind:
        return None
    if block.kind == "edge":
        mine = target.space.cells[block.cell or 0]
        theirs = source.space.cells[found.cell or 0]
        same_cell = mine.n_nodes == theirs.n_nodes and set(mine.ops) == set(theirs.ops)
        return found if same_cell else None
    return found if type(found.param) is type(block.param) else None


def _numeric_marginal(block: Block, found: Block, prior: ConfigPrior
                      ) -> dict[str, np.ndarray] | None:
    """Centres (target unit scale), weights and widths of one carried numeric parameter."""
    units, active = _unit_and_active(found, prior.elite_x)
    if not active.any():
        return None
    weights = prior.elite_weights()[active]
    src, tgt = found.param, block.param
    centres = np.array([to_unit(tgt, from_unit(src, float(u))) for u in units[active]])
    band = float(prior.bands[prior.layout.blocks.index(found)])
    if src.log == tgt.log:  # type: ignore[union-attr]
        width = band * _span(src) / max(_span(tgt), 1e-12)
    else:  # the scales differ: Silverman's rule on the carried centres
        mean = float(weights @ centres) / float(weights.sum())
        spread = math.sqrt(float(weights @ (centres - mean) ** 2) / float(weights.sum()))
        width = 1.06 * max(spread, 1e-3) * len(centres) ** -0.2
    widths = np.full(len(centres), float(np.clip(width, 0.01, 0.5)))
    if float(weights @ np.exp(_log_mass(centres, widths))) / weights.sum() < _MIN_MASS:
        return None
    return {"centres": centres, "weights": weights / weights.sum(), "widths": widths}


def _span(param: Any) -> float:
    return math.log(param.high / param.low) if param.log else float(param.high - param.low)


def _choice_marginal(target: EncodingLayout, block: Block, found: Block, prior: ConfigPrior,
                     smoothing: float) -> dict[str, np.ndarray] | None:
    """Probabilities over the target's choices, from the source's best trials."""
    index, active = _unit_and_active(found, prior.elite_x)
    weights = prior.elite_weights()[active]
    ours, theirs = target.choices(block), prior.layout.choices(found)
    freq = np.zeros(len(ours))
    for k, w in zip(index[active].astype(int), weights, strict=True):
        value = theirs[k]
        hits = [i for i, c in enumerate(ours)
                if c == value and isinstance(c, bool) == isinstance(value, bool)]
        if hits:
            freq[hits[0]] += w
    if freq.sum() <= 0:
        return None
    return {"probs": (1.0 - smoothing) * freq / freq.sum() + smoothing / len(ours)}


class MarginalPrior(Component):
    """Per-parameter priors carried from other families' priors onto a new space.

    Cross-family transfer (part 6 of the meta-model): a family with little or no history
    still shares parameters with families that have much, and where good values of those
    parameters lie often carries over (e.g. Adam learning rates). Only marginals transfer,
    never the joint density: the other parameters differ, and so does their interplay. A
    parameter is carried when, in a source space, one of the same **name and kind** exists:

    * ``Float`` to ``Float``, ``Int`` to ``Int`` (a float and an int of one name are not
      matched): the source's best values are mapped by *value* (not unit position) onto the
      target's own scale, as a 1-D kernel density truncated to the target's bounds; its widths
      are the source's learned widths rescaled when both scales are log or both linear, else
      Silverman's rule. A source whose best values put under 5% of their mass inside the
      target's bounds carries nothing.
    * ``Categorical`` to ``Categorical`` whose choices overlap (by value): frequencies of the
      source's best values over the shared choices, mixed with ``smoothing`` of uniform so
      choices the source never had stay reachable.
    * cell edges (``{cell}_edge_{i}_{j}``) of cells with the same name, node count and op set
      (order may differ): per-edge op frequencies, smoothed the same way.

    Conditional parameters are carried from the source's trials where they were active and
    used in the target when they are active. Several sources sharing a parameter share its
    marginal equally. Every parameter that is not carried stays uniform, and numeric marginals
    keep a ``uniform_weight`` share of uniform density, so log densities stay finite.

    Args:
        uniform_weight: uniform share of each carried numeric marginal.
        smoothing: uniform share of each carried categorical or edge marginal.
    """

    kind = "transfer_prior"

    def __init__(self, uniform_weight: float = 0.05, smoothing: float = 0.25) -> None:
        if not 0 < uniform_weight < 1 or not 0 < smoothing <= 1:
            raise MetasearchError(f"need 0 < uniform_weight < 1 and 0 < smoothing <= 1, got "
                                  f"{uniform_weight!r} and {smoothing!r}")
        self.uniform_weight, self.smoothing = uniform_weight, smoothing
        self.space: SearchSpace | None = None
        self.marginals: dict[str, dict[str, np.ndarray]] = {}

    @property
    def shared(self) -> list[str]:
        """The flat parameters that carry a marginal (the rest are uniform)."""
        return list(self.marginals)

    @property
    def layout(self) -> EncodingLayout:
        if self.space is None:
            raise MetasearchError("the transfer prior is not built: call fit() or transfer()")
        return EncodingLayout.of(self.space)

    @classmethod
    def from_priors(cls, target_space: SearchSpace, priors: Sequence[ConfigPrior],
                    uniform_weight: float = 0.05, smoothing: float = 0.25) -> MarginalPrior:
        """Carry what ``priors`` (of other families) share with ``target_space``."""
        model = cls(uniform_weight, smoothing)
        model.space = target_space
        target = model.layout
        for block in target.blocks:
            parts = [p for p in (model._carry(target, block, prior) for prior in priors) if p]
            if parts:
                model.marginals[block.name] = _combine(parts)
        return model

    def _carry(self, target: EncodingLayout, block: Block, prior: ConfigPrior
               ) -> dict[str, np.ndarray] | None:
        found = _matching_block(target, block, prior.layout)
        if found is None:
            return None
        if block.kind == "numeric":
            return _numeric_marginal(block, found, prior)
        return _choice_marginal(target, block, found, prior, self.smoothing)

    def fit(self, data: MetaDataset, validation: MetaDataset | None = None) -> FitReport:
        """The marginals of a :class:`ConfigPrior` fitted on ``data`` (its own space)."""
        from metasearch.metamodel._prior import _fit_prior

        start = time.perf_counter()
        built = MarginalPrior.from_priors(data.space, [_fit_prior(data)],
                                          self.uniform_weight, self.smoothing)
        self.space, self.marginals = built.space, built.marginals
        return FitReport(train={"shared_params": float(len(self.marginals))},
                         seconds=time.perf_counter() - start)

    def log_density(self, x: np.ndarray, context: TaskContext | None = None) -> np.ndarray:
        """Log density at encodings ``x``: a product over parameters (``context`` is unused)."""
        layout = self.layout
        x = _check_encodings(x, layout.space)
        out = _uniform_log_density(layout, x)
        for block in layout.blocks:
            marginal = self.marginals.get(block.name)
            if marginal is None:
                continue
            values, active = _unit_and_active(block, x)
            if block.kind == "numeric":
                part = np.log1p(-self.uniform_weight) + _kde_log_density(marginal, values)
                log = np.logaddexp(part, math.log(self.uniform_weight))
            else:
                log = np.log(marginal["probs"][values.astype(int)]) + math.log(block.width)
            out += np.where(active, log, 0.0)
        return out

    def sample(self, n: int, rng: np.random.Generator, context: TaskContext | None = None
               ) -> list[dict[str, Any]]:
        """``n`` valid configurations, each parameter drawn from its marginal or uniformly."""
        layout = self.layout
        return [self._draw(layout, rng) for _ in range(n)]

    def _draw(self, layout: EncodingLayout, rng: np.random.Generator) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for block in layout.blocks:
            param = block.param
            if param is not None and param.condition is not None \
                    and not param.condition.holds(flat):
                continue
            marginal = self.marginals.get(block.name)
            if block.kind == "numeric":
                if marginal is None or rng.random() < self.uniform_weight:
                    flat[block.name] = param.sample(rng)  # type: ignore[union-attr]
                else:
                    flat[block.name] = from_unit(param, _kde_draw(marginal, rng))
                continue
            choices = layout.choices(block)
            probs = marginal["probs"] if marginal else np.full(len(choices), 1 / len(choices))
            flat[block.name] = choices[int(rng.choice(len(choices), p=probs))]
        return layout.space.unflatten(flat)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{name}.{key}": value for name, parts in self.marginals.items()
                for key, value in parts.items()}

    def settings(self) -> dict[str, Any]:
        return {"uniform_weight": self.uniform_weight, "smoothing": self.smoothing,
                "shared": self.shared}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                data_space: Any) -> MarginalPrior:
        model = cls(float(settings["uniform_weight"]), float(settings["smoothing"]))
        model.space = data_space
        names = {b.name for b in model.layout.blocks}
        for name in settings["shared"]:
            if name not in names:
                raise MetasearchError(f"transfer prior parameter {name!r} is not in this space")
            model.marginals[str(name)] = {k: np.asarray(v) for k, v in
                                          sub_arrays(arrays, f"{name}.").items()}
        return model


def _combine(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Several sources' marginals of one parameter, weighted equally."""
    if "probs" in parts[0]:
        return {"probs": np.mean([p["probs"] for p in parts], axis=0)}
    return {"centres": np.concatenate([p["centres"] for p in parts]),
            "weights": np.concatenate([p["weights"] / len(parts) for p in parts]),
            "widths": np.concatenate([p["widths"] for p in parts])}


def _kde_log_density(marginal: Mapping[str, np.ndarray], u: np.ndarray) -> np.ndarray:
    """Log density on [0, 1] of a 1-D Gaussian mixture renormalised to [0, 1] as a whole.

    Renormalising the mixture (not each kernel) keeps centres that fall outside the target's
    bounds from piling their mass onto the boundary.
    """
    c, w, h = marginal["centres"], marginal["weights"], marginal["widths"]
    z = (u[:, None] - c[None, :]) / h[None, :]
    logk = -0.5 * z * z - np.log(h)[None, :] - _LOG_SQRT_2PI + np.log(w)[None, :]
    log_z = logsumexp(np.log(w) + _log_mass(c, h))
    return logsumexp(logk, axis=1) - log_z


def _kde_draw(marginal: Mapping[str, np.ndarray], rng: np.random.Generator) -> float:
    """One draw of the renormalised mixture: a kernel by its in-bounds mass, then truncated."""
    c, w, h = marginal["centres"], marginal["weights"], marginal["widths"]
    p = w * np.exp(_log_mass(c, h))
    i = int(rng.choice(len(c), p=p / p.sum()))
    return _truncated_normal(float(c[i]), float(h[i]), rng)
