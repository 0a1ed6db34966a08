"""Learned priors over the search space: where good configurations of similar tasks lie.

A sampler draws candidates from the prior and weighs its acquisition function by it (πBO), so
the first trials of a new task land where past tasks did well, while the uniform component
keeps every valid configuration reachable. :class:`MarginalPrior` carries the per-parameter
parts of such priors to another family whose space shares some parameters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import Component, FitReport, TaskContext
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._features import (
    Block,
    EncodingLayout,
    TaskSimilarity,
    from_unit,
    prefixed,
    sub_arrays,
    to_unit,
)
from metasearch.spaces import SearchSpace

__all__ = ["ConfigPrior", "MarginalPrior"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_WIDTHS = (0.02, 0.04, 0.07, 0.1, 0.15, 0.22, 0.33, 0.5)
"""Kernel widths (unit scale) tried for each numeric parameter."""
_KEEPS = (0.4, 0.55, 0.7, 0.85, 0.95)
"""Chances of keeping a categorical value (or cell edge op) tried, besides uniform."""
_MAX_SELECTION = 500
"""Elites (and, about as many, ordinary trials) used to select the kernel widths."""
_REFS_PER_TASK = 20
"""Most ordinary trials per task that the best ones are contrasted with."""


# -- kernels ---------------------------------------------------------------------------------


def _unit_and_active(block: Block, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A numeric block's unit values and active mask, or a one-hot block's index and mask."""
    if block.kind == "numeric":
        active = x[:, block.active] > 0.5 if block.active is not None else np.ones(len(x), bool)
        return x[:, block.start], active
    values = x[:, block.start:block.stop]
    return np.argmax(values, axis=1).astype(float), values.max(axis=1) > 0.5


def _log_mass(mu: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """Log of the mass a Gaussian ``N(mu, width)`` puts on [0, 1]."""
    return np.log(np.maximum(ndtr((1.0 - mu) / width) - ndtr(-mu / width), 1e-300))


def _block_log_kernel(block: Block, band: float, query: np.ndarray, centre: np.ndarray
                      ) -> np.ndarray:
    """``(len(query), len(centre))`` log kernel values of one block.

    Numeric: a Gaussian of width ``band`` truncated to [0, 1]. One-hot (categorical, edge):
    the Aitchison-Aitken kernel, keeping the value with probability ``band``. An inactive
    query contributes no factor; an inactive centre contributes the uniform density, so each
    kernel stays normalised over the conditional space.
    """
    qa, qact = _unit_and_active(block, query)
    ca, cact = _unit_and_active(block, centre)
    if block.kind == "numeric":
        z = (qa[:, None] - ca[None, :]) / band
        logk = -0.5 * z * z - math.log(band) - _LOG_SQRT_2PI - _log_mass(ca, band)[None, :]
        logk = np.where(cact[None, :], logk, 0.0)
    else:
        m = block.width
        if m == 1:
            return np.zeros((len(query), len(centre)))
        same = qa[:, None] == ca[None, :]
        logk = np.where(same, math.log(band), math.log((1.0 - band) / (m - 1)))
        logk = np.where(cact[None, :], logk, -math.log(m))
    return np.where(qact[:, None], logk, 0.0)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``scipy.special.logsumexp(a, axis=1)`` of a real 2-D array: the same numbers, faster.

    SciPy's own goes through its array-API layer, which costs several times the arithmetic
    on the prior's ``(candidates, centres)`` matrices. This takes SciPy's (1.15+) steps one
    for one, so each number rounds as there: the maximum split out of the sum (times its
    multiplicity), ``log1p`` of the rest, and the direct ``log(sum(exp))`` where that is not
    finite.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        a_max = np.max(a, axis=1, keepdims=True)
        is_max = a == a_max
        m = np.sum(is_max.astype(a.dtype), axis=1, keepdims=True, dtype=a.dtype)
        rest = np.exp(np.where(is_max, -np.inf, a) - a_max)
        s = np.sum(rest, axis=1, keepdims=True, dtype=a.dtype)
        s = np.where(s == 0, s, s / m)
        sign = np.sign(s + 1) * np.sign(m)
        s = np.where(s < -1, -s - 2, s)
        out = np.log1p(s) + np.log(np.abs(m)) + a_max
        out[sign < 0] = np.nan
    finite = np.isfinite(out)
    if finite.all():  # SciPy computes the direct sum always; rows are independent, so only
        return out[:, 0]  # rows that need it need it
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(np.sum(np.exp(a), axis=1, keepdims=True))
    return np.where(finite, out, direct)[:, 0]


def _centre_terms(block: Block, band: float, centre: np.ndarray) -> Any:
    """What :func:`_block_log_kernel` computes from the centres alone, for :func:`_add_kernel`.

    Numeric: the centres' unit values, inactive mask and log mass on [0, 1]. One-hot: a
    ``(width + 1, n_centres)`` table of the log kernel per query value (the last row, zeros, for
    an inactive query); None for a one-column block (it adds nothing).
    """
    ca, cact = _unit_and_active(block, centre)
    if block.kind == "numeric":
        return ca, ~cact, _log_mass(ca, band)
    m = block.width
    if m == 1:
        return None
    table = np.zeros((m + 1, len(centre)))
    for k in range(m):
        table[k] = np.where(ca == k, math.log(band), math.log((1.0 - band) / (m - 1)))
    table[:m, ~cact] = -math.log(m)
    return table


def _add_kernel(total: np.ndarray, block: Block, band: float, query: np.ndarray,
                terms: Any, scratch: tuple[np.ndarray, np.ndarray]) -> None:
    """``total += _block_log_kernel(block, band, query, centres)``, bit for bit, faster.

    The centres' part comes precomputed (:func:`_centre_terms`); the numeric kernel is built in
    ``scratch`` (two arrays shaped like ``total``) in the same order of operations, so every
    value rounds exactly as it did.
    """
    qa, qact = _unit_and_active(block, query)
    if block.kind != "numeric":
        if terms is not None:
            total += terms[np.where(qact, qa.astype(np.int64), block.width)]
        return
    ca, c_inactive, log_mass = terms
    z, logk = scratch
    np.subtract.outer(qa, ca, out=z)
    z /= band
    np.multiply(z, -0.5, out=logk)
    logk *= z
    logk -= math.log(band)
    logk -= _LOG_SQRT_2PI
    logk -= log_mass
    if c_inactive.any():
        logk[:, c_inactive] = 0.0
    if not qact.all():
        logk[~qact] = 0.0
    total += logk


def _uniform_log_density(layout: EncodingLayout, x: np.ndarray) -> np.ndarray:
    """Log density of the uniform (per parameter) distribution at encodings ``x``."""
    out = np.zeros(len(x))
    for block in layout.blocks:
        if block.kind != "numeric":
            out -= np.where(_unit_and_active(block, x)[1], math.log(block.width), 0.0)
    return out


def _truncated_normal(mu: float, width: float, rng: np.random.Generator) -> float:
    """A draw of ``N(mu, width)`` restricted to [0, 1], by inverse CDF.

    When [0, 1] lies in the upper tail (a centre below 0, as transfer can make), the mirrored
    lower tail is drawn instead, where ``ndtr`` keeps its precision.
    """
    a, b = -mu / width, (1.0 - mu) / width
    r = rng.random()
    if a > 0:
        z = -ndtri(ndtr(-b) + r * (ndtr(-a) - ndtr(-b)))
    else:
        z = ndtri(ndtr(a) + r * (ndtr(b) - ndtr(a)))
    return float(np.clip(mu + width * z, 0.0, 1.0))


def _normal_terms(mu: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CDF terms :func:`_truncated_normal` computes for centres ``mu``: sign, base, span.

    A draw is then ``clip(mu + width * sign * ndtri(base + r * span), 0, 1)``, the same
    numbers :func:`_truncated_normal` gives, without four ``ndtr`` calls per draw.
    """
    a, b = -mu / width, (1.0 - mu) / width
    upper = a > 0
    base = np.where(upper, ndtr(-b), ndtr(a))
    span = np.where(upper, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    return np.where(upper, -1.0, 1.0), base, span


def _keep_or_switch(index: int, m: int, keep: float, rng: np.random.Generator) -> int:
    """Keep ``index`` with probability ``keep``, else one of the other ``m - 1`` uniformly."""
    if m == 1 or rng.random() < keep:
        return index
    other = int(rng.integers(m - 1))
    return other if other < index else other + 1


def _context_key(context: TaskContext | None) -> tuple[Any, ...] | None:
    """Everything of ``context`` task weights depend on, comparable; None if not hashable."""
    if context is None:
        return ()
    features = context.meta_features
    x = np.asarray(context.x, dtype=np.float64)
    scores = np.asarray(context.scores, dtype=np.float64)
    try:
        items = None if features is None else tuple(sorted(features.items()))
        hash(items)
    except TypeError:
        return None
    return items, x.shape, x.tobytes(), scores.tobytes()


def _check_encodings(x: np.ndarray, space: SearchSpace) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.shape[1] != space.encoding_length or not np.isfinite(x).all():
        raise MetasearchError(f"encodings of shape {x.shape} are not finite encodings of this "
                              f"space (length {space.encoding_length})")
    return x


# -- the prior -------------------------------------------------------------------------------


class ConfigPrior(Component):
    """A weighted kernel density over the encoded space, built from each past task's best trials.

    The prior of πBO (Hvarfner et al., "πBO: Augmenting acquisition functions with user
    beliefs for Bayesian optimization", ICLR 2022), learned instead of elicited: the top
    ``top_fraction`` of every training task's completed trials (between ``min_elites`` and
    ``max_elites`` of them) become kernel centres, each task's centres sharing its weight, and
    tasks weighted by :class:`~metasearch.metamodel._features.TaskSimilarity` to the new task
    (uniform without a context); cf. the search spaces learned from past tasks by Perrone et
    al. ("Learning search spaces for Bayesian optimization", NeurIPS 2019). Each
    hyperparameter or cell edge has its own kernel on its own scale: a Gaussian truncated to
    [0, 1] on the unit scale for numbers, an Aitchison-Aitken "keep with probability p"
    kernel for categories and edge ops. Widths
    and keep-probabilities are learned by coordinate ascent on a leave-one-task-out density
    ratio: how much more likely the prior built from the other tasks finds a task's best
    trials than its ordinary ones (see :meth:`_select_bands`). A ``uniform_weight`` share of
    uniform density keeps every valid configuration at finite log density.

    Args:
        top_fraction: share of each task's completed trials used as centres.
        min_elites: fewest centres per task (when it has that many completed trials).
        max_elites: most centres per task.
        uniform_weight: mixture weight of the uniform distribution.
        seed: seeds the subsample used to select widths.
        similarity: settings of the :class:`TaskSimilarity` that weighs tasks for a context.
    """

    kind = "prior"

    def __init__(self, top_fraction: float = 0.15, min_elites: int = 3, max_elites: int = 50,
                 uniform_weight: float = 0.05, seed: int = 0,
                 similarity: Mapping[str, Any] | None = None) -> None:
        if not 0 < top_fraction <= 1 or not 1 <= min_elites <= max_elites \
                or not 0 < uniform_weight < 1:
            raise MetasearchError(
                f"need 0 < top_fraction <= 1, 1 <= min_elites <= max_elites and "
                f"0 < uniform_weight < 1; got {top_fraction!r}, {min_elites!r}, "
                f"{max_elites!r}, {uniform_weight!r}")
        self.top_fraction, self.min_elites, self.max_elites = top_fraction, min_elites, max_elites
        self.uniform_weight, self.seed = uniform_weight, seed
        self.similarity_settings = dict(similarity or {})
        self.similarity = TaskSimilarity(**self.similarity_settings)
        self.space: SearchSpace | None = None
        self.elite_x = np.zeros((0, 0))
        self.elite_task = np.zeros(0, dtype=np.int64)
        self.bands = np.zeros(0)
        self._clear_caches()

    def _clear_caches(self) -> None:
        """Forget what was derived from the fitted state (weights per context, kernel terms).

        Each cache is one tuple ``(key, value)`` replaced whole, so threads sharing the prior
        read either the old entry or the new one, never half of each; a key holds every input
        its value depends on, so an entry for another context or state is never used.
        """
        self._weights_cache: tuple[Any, tuple[np.ndarray, np.ndarray]] | None = None
        self._terms_cache: tuple[Any, Any] | None = None

    @property
    def layout(self) -> EncodingLayout:
        if self.space is None:
            raise MetasearchError("the prior is not fitted: call fit() first")
        return EncodingLayout.of(self.space)

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, data: MetaDataset, validation: MetaDataset | None = None) -> FitReport:
        """Collect each task's best trials and learn the kernel widths on them."""
        start = time.perf_counter()
        self._clear_caches()
        self.space = data.space
        self.similarity.fit(data)
        self.elite_x, self.elite_task = self._elites(data)
        layout = self.layout
        self.bands = np.array([0.1 if b.kind == "numeric" else max(0.7, 1.0 / b.width)
                               for b in layout.blocks])
        train = self._select_bands(data, layout)
        valid = self._score(validation) if validation is not None and validation.tasks else {}
        return FitReport(train=train, validation=valid, seconds=time.perf_counter() - start)

    def _elites(self, data: MetaDataset) -> tuple[np.ndarray, np.ndarray]:
        rows, owners = [], []
        for t, history in enumerate(data.tasks.values()):
            top = self._top(history.scores)
            rows.append(history.x[top])
            owners.append(np.full(len(top), t, dtype=np.int64))
        if not sum(len(r) for r in rows):
            raise MetasearchError(f"no completed trial to learn a prior from in family "
                                  f"{data.family!r}")
        return np.concatenate(rows), np.concatenate(owners)

    def _top(self, scores: np.ndarray) -> np.ndarray:
        """Indices of a task's best completed trials."""
        ok = np.flatnonzero(np.isfinite(scores))
        n = math.ceil(self.top_fraction * len(ok))
        n = min(len(ok), max(self.min_elites, min(self.max_elites, n)))
        return ok[np.argsort(-scores[ok], kind="stable")[:n]]

    def _select_bands(self, data: MetaDataset, layout: EncodingLayout) -> dict[str, float]:
        """Coordinate ascent (two sweeps over a grid) on a leave-one-task-out density ratio.

        The objective is how much more likely, under the prior built from the *other* tasks,
        a task's best trials are than its trials at large (task-balanced means of log
        densities). Plain likelihood of the best trials would also reward what every trial
        shares (e.g. cells whose canonical encodings cluster whatever their quality), so it is
        the gap between good and ordinary that picks each width; a parameter whose best values
        look like any other's gets the widest kernel (uniform for a categorical).
        """
        rng = np.random.default_rng(self.seed)
        pick = np.sort(rng.permutation(len(self.elite_x))[:_MAX_SELECTION])
        centres, owner = self.elite_x[pick], self.elite_task[pick]
        per_task = max(2, min(_REFS_PER_TASK, _MAX_SELECTION // len(data.tasks)))
        refs = [(rng.permutation(h.n_trials)[:per_task], t)
                for t, h in enumerate(data.tasks.values())]
        ref_x = np.concatenate([h.x[r] for (r, _), h in zip(refs, data.tasks.values(),
                                                            strict=True)])
        ref_owner = np.concatenate([np.full(len(r), t) for r, t in refs])
        query = np.concatenate([centres, ref_x])
        uniform = _uniform_log_density(layout, query)
        if len(np.unique(owner)) < 2:  # nothing to hold out: keep the defaults
            return {}
        log_w, query_w = _held_out_weights(owner, np.concatenate([owner, ref_owner]),
                                           len(centres))
        blocks = [_block_log_kernel(b, self.bands[i], query, centres)
                  for i, b in enumerate(layout.blocks)]
        total = np.sum(blocks, axis=0) + log_w
        score = float(self._mixture(total, uniform) @ query_w)
        for _ in range(2):
            for i, block in enumerate(layout.blocks):
                for band in _grid(block):
                    trial = _block_log_kernel(block, band, query, centres)
                    candidate = total - blocks[i] + trial
                    value = float(self._mixture(candidate, uniform) @ query_w)
                    if value > score + 1e-9:
                        score, total, blocks[i], self.bands[i] = value, candidate, trial, band
        return {"loto_log_density_ratio": score}

    def _mixture(self, weighted_log_kernel: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """Log of ``(1 - u) * sum_j w_j k_j(x) + u * uniform(x)`` per query row."""
        kde = _logsumexp_rows(weighted_log_kernel)
        return np.logaddexp(math.log1p(-self.uniform_weight) + kde,
                            math.log(self.uniform_weight) + uniform)

    def _score(self, data: MetaDataset) -> dict[str, float]:
        """Mean (task-balanced) log density of held-out tasks' best and of all their trials."""
        top, every = [], []
        for history in data.tasks.values():
            elite = history.x[self._top(history.scores)]
            if len(elite):
                top.append(float(self.log_density(elite).mean()))
            every.append(float(self.log_density(history.x).mean()))
        return {"log_density_top": float(np.mean(top)), "log_density_all": float(np.mean(every)),
                "log_density_ratio": float(np.mean(top) - np.mean(every))}

    # -- using it ----------------------------------------------------------------------------

    def elite_weights(self, context: TaskContext | None = None) -> np.ndarray:
        """Each centre's mixture weight: its task's similarity weight, shared by its centres."""
        return self._weights(context)[0].copy()

    def _weights(self, context: TaskContext | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`elite_weights` and their logs, cached for the last context seen.

        A sampler asks for them twice per suggestion (drawing and scoring candidates) with
        the same context; task similarity is the costly part (every task's rank disagreement
        with the support set).
        """
        key = (id(self.similarity), id(self.elite_task), _context_key(context))
        cached = self._weights_cache
        if key[2] is not None and cached is not None and cached[0] == key:
            return cached[1]
        task_w = self.similarity.weights(context)
        counts = np.bincount(self.elite_task, minlength=len(task_w)).astype(float)
        w = task_w[self.elite_task] / counts[self.elite_task]
        w = w / w.sum()
        value = (w, np.log(w))
        for array in value:
            array.flags.writeable = False
        self._weights_cache = (key, value)
        return value

    def _centre_cache(self) -> tuple[list[Any], list[Any]]:
        """Per block, the centres' kernel terms and what :meth:`_perturb` reads; cached.

        The second list holds, per numeric block, each centre's inactive flag, unit value and
        :func:`_normal_terms`; per one-hot block, each centre's index (-1 where inactive); as
        Python lists, which a draw at a time reads faster than arrays.
        """
        key = (id(self.elite_x), self.elite_x.shape, self.bands.tobytes())
        cached = self._terms_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        kernel: list[Any] = []
        draws: list[Any] = []
        for i, block in enumerate(self.layout.blocks):
            kernel.append(_centre_terms(block, self.bands[i], self.elite_x))
            values = self.elite_x[:, block.start:block.stop]
            if block.kind == "numeric":
                inactive = self.elite_x[:, block.active] < 0.5 if block.active is not None \
                    else np.zeros(len(values), bool)
                parts = (inactive, values[:, 0], *_normal_terms(values[:, 0], self.bands[i]))
                draws.append(tuple(part.tolist() for part in parts))
            else:
                draws.append(np.where(values.max(axis=1) < 0.5, -1,
                                      np.argmax(values, axis=1)).tolist())
        value = (kernel, draws)
        self._terms_cache = (key, value)
        return value

    def log_density(self, x: np.ndarray, context: TaskContext | None = None) -> np.ndarray:
        """Log prior density at encodings ``x`` (``(n, d)`` or one vector); finite everywhere."""
        layout = self.layout
        x = _check_encodings(x, layout.space)
        log_w = self._weights(context)[1]
        kernel = self._centre_cache()[0]
        out = np.empty(len(x))
        for lo in range(0, len(x), 1024):
            chunk = x[lo:lo + 1024]
            blocks = np.zeros((len(chunk), len(log_w)))
            scratch = (np.empty_like(blocks), np.empty_like(blocks))
            for i, block in enumerate(layout.blocks):
                _add_kernel(blocks, block, self.bands[i], chunk, kernel[i], scratch)
            blocks += log_w  # = log_w + blocks, in place
            out[lo:lo + 1024] = self._mixture(blocks, _uniform_log_density(layout, chunk))
        return out

    def sample(self, n: int, rng: np.random.Generator, context: TaskContext | None = None
               ) -> list[dict[str, Any]]:
        """``n`` valid configurations: a weighted past best trial, perturbed per parameter.

        Numbers move by their learned truncated Gaussian on the unit scale (integers are
        rounded), categories and edge ops are kept with their learned probability, and a
        conditional parameter that the perturbation activates, absent from the centre, is drawn
        uniformly; a ``uniform_weight`` share of draws is uniform over the space.
        """
        layout = self.layout
        picks = rng.choice(len(self.elite_x), size=n, p=self._weights(context)[0])
        uniform = rng.random(n) < self.uniform_weight
        draws = self._centre_cache()[1]
        return [layout.space.sample(rng) if u else self._perturb(layout, int(e), draws, rng)
                for e, u in zip(picks, uniform, strict=True)]

    def _perturb(self, layout: EncodingLayout, e: int, draws: list[Any],
                 rng: np.random.Generator) -> dict[str, Any]:
        """Centre ``e`` perturbed (``draws``: the second part of :meth:`_centre_cache`)."""
        flat: dict[str, Any] = {}
        for i, block in enumerate(layout.blocks):
            param = block.param
            if param is not None and param.condition is not None \
                    and not param.condition.holds(flat):
                continue
            band = float(self.bands[i])
            if block.kind == "numeric":
                inactive, mu, sign, base, span = draws[i]
                if inactive[e]:
                    flat[block.name] = param.sample(rng)  # type: ignore[union-attr]
                else:  # _truncated_normal(mu[e], band, rng), its terms precomputed
                    z = sign[e] * ndtri(base[e] + rng.random() * span[e])
                    u = float(min(1.0, max(0.0, mu[e] + band * z)))
                    flat[block.name] = from_unit(param, u)
                continue
            choices, index = layout.choices(block), draws[i][e]
            flat[block.name] = choices[int(rng.integers(len(choices))) if index < 0 else
                                       _keep_or_switch(index, len(choices), band, rng)]
        return layout.space.unflatten(flat)

    @classmethod
    def transfer(cls, target_space: SearchSpace,
                 sources: Sequence[ConfigPrior | MetaDataset]) -> MarginalPrior:
        """A prior for ``target_space`` from other families' priors (or data, fitted here).

        See :class:`MarginalPrior` for which parameters are carried.
        """
        priors = [s if isinstance(s, ConfigPrior) else _fit_prior(s) for s in sources]
        return MarginalPrior.from_priors(target_space, priors)

    # -- saving ------------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        return {"elite_x": self.elite_x, "elite_task": self.elite_task, "bands": self.bands,
                **prefixed(self.similarity.arrays(), "similarity.")}

    def settings(self) -> dict[str, Any]:
        return {"top_fraction": self.top_fraction, "min_elites": self.min_elites,
                "max_elites": self.max_elites, "uniform_weight": self.uniform_weight,
                "seed": self.seed, "similarity": self.similarity_settings,
                "similarity_state": self.similarity.settings()}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                data_space: Any) -> ConfigPrior:
        prior = cls(float(settings["top_fraction"]), int(settings["min_elites"]),
                    int(settings["max_elites"]), float(settings["uniform_weight"]),
                    int(settings["seed"]), settings.get("similarity"))
        prior.similarity = TaskSimilarity.restore(settings["similarity_state"],
                                                  sub_arrays(arrays, "similarity."))
        prior.space = data_space
        prior.elite_x = np.asarray(arrays["elite_x"], dtype=np.float64)
        prior.elite_task = np.asarray(arrays["elite_task"], dtype=np.int64)
        prior.bands = np.asarray(arrays["bands"], dtype=np.float64)
        if prior.elite_x.shape[1:] != (data_space.encoding_length,) \
                or len(prior.bands) != len(prior.layout.blocks):
            raise MetasearchError(f"prior arrays (centres {prior.elite_x.shape}, "
                                  f"{len(prior.bands)} widths) do not fit this space")
        return prior


def _fit_prior(data: MetaDataset) -> ConfigPrior:
    prior = ConfigPrior()
    prior.fit(data)
    return prior


def _grid(block: Block) -> list[float]:
    if block.kind == "numeric":
        return list(_WIDTHS)
    return sorted({1.0 / block.width, *(k for k in _KEEPS if k > 1.0 / block.width)})


def _held_out_weights(centre_owner: np.ndarray, query_owner: np.ndarray, n_top: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Log mixture weights leaving each query's own task out, and signed query weights.

    Row i weighs the centres of every task but its own equally per task (a task's centres
    share its weight). The first ``n_top`` queries are best trials, weighted
    ``+1 / (n_tasks * their task's count)``; the rest are ordinary trials, weighted ``-1 /
    (n_tasks * count)``, so the weighted sum is the task-balanced log-density gap.
    """
    tasks, counts = np.unique(centre_owner, return_counts=True)
    per_centre = counts[np.searchsorted(tasks, centre_owner)].astype(float)
    log_w = np.broadcast_to(-np.log(per_centre * (len(tasks) - 1)),
                            (len(query_owner), len(centre_owner))).copy()
    log_w[query_owner[:, None] == centre_owner[None, :]] = -np.inf
    query_w = np.zeros(len(query_owner))
    for sign, part in ((1.0, slice(0, n_top)), (-1.0, slice(n_top, None))):
        owners = query_owner[part]
        _, inverse, n = np.unique(owners, return_inverse=True, return_counts=True)
        query_w[part] = sign / (len(n) * n[inverse])
    return log_w, query_w


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
