"""Learned priors over the search space: where good configurations of similar tasks lie.

A sampler draws candidates from the prior and weighs its acquisition function by it (πBO), so
the first trials of a new task land where past tasks did well, while the uniform component
keeps every valid configuration reachable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import ndtri

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import (
    Component,
    FitReport,
    TaskContext,
    lacks_finished,
    prefixed,
    sub_arrays,
)
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._encoding import Block, EncodingLayout, from_unit
from metasearch.metamodel._kernels import (
    _add_kernel,
    _block_log_kernel,
    _centre_terms,
    _check_encodings,
    _context_key,
    _keep_or_switch,
    _logsumexp_rows,
    _normal_terms,
    _uniform_log_density,
)
from metasearch.metamodel._similarity import TaskSimilarity
from metasearch.spaces import SearchSpace

__all__ = ["ConfigPrior"]

_WIDTHS = (0.02, 0.04, 0.07, 0.1, 0.15, 0.22, 0.33, 0.5)
"""Kernel widths (unit scale) tried for each numeric parameter."""
_KEEPS = (0.4, 0.55, 0.7, 0.85, 0.95)
"""Chances of keeping a categorical value (or cell edge op) tried, besides uniform."""
_MAX_SELECTION = 500
"""Elites (and, about as many, ordinary trials) used to select the kernel widths."""
_REFS_PER_TASK = 20
"""Most ordinary trials per task that the best ones are contrasted with."""


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

    def lacks(self, data: MetaDataset) -> str | None:
        return lacks_finished(data, "a prior")

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
        self._rows_cache: tuple[Any, dict[bytes, np.ndarray]] | None = None

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
        key = self._fitted_key()
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

    def log_density(self, x: np.ndarray, context: TaskContext | None = None, *,
                    remember: bool = False) -> np.ndarray:
        """Log prior density at encodings ``x`` (``(n, d)`` or one vector); finite everywhere.

        With ``remember``, each row's kernel against the centres (what does not depend on the
        context) is kept until the next such call and reused for the rows it is asked again:
        for the study's own trials, asked at every suggestion with a context that has changed
        (:func:`~metasearch.samplers._meta_acquisition.prior_trust`). The values are the same
        bit for bit either way: a row's kernel depends on that row alone.
        """
        layout = self.layout
        x = _check_encodings(x, layout.space)
        log_w = self._weights(context)[1]
        if remember:
            blocks = self._remembered_rows(x) + log_w
            return self._mixture(blocks, _uniform_log_density(layout, x))
        out = np.empty(len(x))
        for lo in range(0, len(x), 1024):
            chunk = x[lo:lo + 1024]
            blocks = self._kernel_rows(chunk)
            blocks += log_w  # = log_w + blocks, in place
            out[lo:lo + 1024] = self._mixture(blocks, _uniform_log_density(layout, chunk))
        return out

    def _kernel_rows(self, x: np.ndarray) -> np.ndarray:
        """The log kernel of each row of ``x`` against every centre, ``(len(x), centres)``."""
        layout, kernel = self.layout, self._centre_cache()[0]
        blocks = np.zeros((len(x), len(self.elite_x)))
        scratch = (np.empty_like(blocks), np.empty_like(blocks))
        for i, block in enumerate(layout.blocks):
            _add_kernel(blocks, block, self.bands[i], x, kernel[i], scratch)
        return blocks

    def _fitted_key(self) -> tuple[Any, ...]:
        """What the centres' kernels depend on: the centres and the bandwidths (the fit's
        bandwidth search changes ``bands`` in place)."""
        return (id(self.elite_x), self.elite_x.shape, self.bands.tobytes())

    def _remembered_rows(self, x: np.ndarray) -> np.ndarray:
        """:meth:`_kernel_rows` of ``x``, those of rows the last call had taken from it."""
        key = self._fitted_key()
        cached = self._rows_cache
        known = cached[1] if cached is not None and cached[0] == key else {}
        names = [row.tobytes() for row in x]
        rows = {name: known[name] for name in names if name in known}
        missing = [i for i, name in enumerate(names) if name not in rows]
        if missing:
            rows.update(zip((names[i] for i in missing), self._kernel_rows(x[missing]),
                            strict=True))
        self._rows_cache = (key, rows)
        if not names:
            return np.zeros((0, len(self.elite_x)))
        return np.stack([rows[name] for name in names])

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
        out = [layout.space.sample(rng) if u else self._perturb(layout, int(e), draws, rng)
               for e, u in zip(picks, uniform, strict=True)]
        return layout.space.redraw_forbidden(out, rng)

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
