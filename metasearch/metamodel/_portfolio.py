"""The warm-start portfolio: a few configurations that are good on most past tasks together.

The first trials of a new task are the ones with no feedback to go on; a greedy portfolio is the
best known answer to "what should I try first?" when past tasks are available (zero-shot HPO).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from metasearch.errors import MetasearchError
from metasearch.metamodel._component import Component, FitReport, TaskContext, lacks_finished
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel._features import TaskResponses, TaskSimilarity, prefixed, sub_arrays
from metasearch.metamodel._relevance import greedy_order
from metasearch.spaces import SearchSpace

__all__ = ["Portfolio", "greedy_order"]

REPORT_SIZES = (1, 5, 10)
"""Portfolio prefixes whose regret the fit report gives."""


def prefix_regret(scores: np.ndarray, order: list[int]) -> dict[str, float]:
    """Mean over tasks of ``1 - max`` normalized score of the first 1/5/10 picks of ``order``."""
    out = {}
    for size in REPORT_SIZES:
        chosen = scores[order[:size]]
        out[f"regret_at_{size}"] = float(np.mean(1.0 - chosen.max(axis=0)))
    return out


def random_regret(responses: TaskResponses, data: MetaDataset, seed: int = 0,
                  n_draws: int = 256) -> dict[str, float]:
    """Expected regret of the best of k uniformly random configurations, via ``responses``.

    The portfolio's regret on a task is read through the task's response model, so the
    cold-start reference is too. The reference draws fresh configurations from the space:
    a task's own stored trials would be no random sample (a warehouse build spends its later
    trials near the optimum), and would make random search look better than it is. For
    sorted values ``s_1 <= ... <= s_n``, the best of ``k`` drawn without replacement is
    ``s_i`` with probability ``C(i-1, k-1) / C(n, k)``.
    """
    rng = np.random.default_rng(seed)
    x = data.space.encode_many([data.space.sample(rng) for _ in range(n_draws)])
    predicted = responses.predict(x)
    out: dict[str, list[float]] = {f"random_regret_at_{k}": [] for k in REPORT_SIZES}
    for t in range(len(data.tasks)):
        scores = np.sort(np.clip(predicted[:, t], 0.0, 1.0))
        for k in REPORT_SIZES:
            k_eff = min(k, len(scores))
            probs = np.array([math.comb(i, k_eff - 1) for i in range(len(scores))], dtype=float)
            out[f"random_regret_at_{k}"].append(1.0 - float(probs @ scores / probs.sum()))
    return {name: float(np.mean(values)) for name, values in out.items()}


class Portfolio(Component):
    """A greedy zero-shot portfolio of past configurations, optionally weighted per new task.

    From Wistuba et al., "Sequential model-free hyperparameter tuning" (ICDM 2015), and the
    portfolio of auto-sklearn 2.0 (Feurer et al., "Auto-Sklearn 2.0: Hands-free AutoML via
    meta-learning", JMLR 2022); see also Winkelmolen et al., "Practical and sample efficient
    zero-shot HPO" (2020). Candidates are the ``per_task`` best trials of every training task
    plus ``n_extra`` trials drawn at random from all of them (generalists need not top any
    one task). Greedy selection then needs each candidate's normalized score on *every*
    training task, but warehouse tasks were searched independently and share no
    configurations; the score of a candidate on a task is therefore estimated by that task's
    response model (:class:`~metasearch.metamodel._features.TaskResponses`, a GP posterior
    mean over the task's encoded trials), for the task it came from too, so specialists are
    not favoured by their own noise-free-looking score.

    :meth:`configs` returns the uniform portfolio, or with a context that carries
    meta-features or a support set, one recomputed greedily with task weights from
    :class:`~metasearch.metamodel._features.TaskSimilarity` (the similarity-weighted variant).

    Args:
        k: default portfolio size.
        per_task: top trials of each task that become candidates.
        n_extra: further candidates drawn at random from all training trials.
        seed: seeds that draw.
        similarity: settings of the :class:`TaskSimilarity` used by the weighted variant.
    """

    kind = "portfolio"

    def lacks(self, data: MetaDataset) -> str | None:
        return lacks_finished(data, "a warm-start portfolio")

    def __init__(self, k: int = 16, per_task: int = 3, n_extra: int = 16, seed: int = 0,
                 similarity: Mapping[str, Any] | None = None) -> None:
        if k < 1 or per_task < 1 or n_extra < 0:
            raise MetasearchError(f"need k >= 1, per_task >= 1, n_extra >= 0; got k={k!r}, "
                                  f"per_task={per_task!r}, n_extra={n_extra!r}")
        self.k, self.per_task, self.n_extra, self.seed = k, per_task, n_extra, seed
        self.similarity_settings = dict(similarity or {})
        self.similarity = TaskSimilarity(**self.similarity_settings)
        self.candidates: list[dict[str, Any]] = []
        self.candidate_x = np.zeros((0, 0))
        self.scores = np.zeros((0, 0))

    @property
    def task_ids(self) -> list[str]:
        return self.similarity.task_ids

    def fit(self, data: MetaDataset, validation: MetaDataset | None = None) -> FitReport:
        """Pick candidates, estimate their scores on every training task, rank them greedily."""
        start = time.perf_counter()
        self.candidates, self.candidate_x, owner = self._candidates(data)
        self.similarity.fit(data, candidates=(self.candidate_x, owner))
        self.scores = np.clip(self.similarity.responses.predict(self.candidate_x), 0.0, 1.0)
        order = self.order(self.k)
        train = {**prefix_regret(self.scores, order), **self.similarity.learned.report()}
        valid: dict[str, float] = {}
        if validation is not None and validation.tasks:
            responses = TaskResponses().fit(validation)
            held_out = np.clip(responses.predict(self.candidate_x), 0.0, 1.0)
            valid = {**prefix_regret(held_out, order),
                     **random_regret(responses, validation, self.seed),
                     **self._featured_regret(validation, held_out)}
        return FitReport(train=train, validation=valid, seconds=time.perf_counter() - start)

    def _featured_regret(self, validation: MetaDataset, held_out: np.ndarray
                         ) -> dict[str, float]:
        """Regret at 1/5/10 on validation tasks of the portfolio weighted by their features."""
        if not self.similarity.learned.used:
            return {}
        columns = []
        for t, history in enumerate(validation.tasks.values()):
            context = TaskContext(meta_features={
                k: v for k, v in history.meta_features.items()
                if v is not None and math.isfinite(float(v))})
            order = self.order(max(REPORT_SIZES), self.similarity.weights(context))
            columns.append(held_out[order, t])
        regrets = 1.0 - np.maximum.accumulate(np.array(columns), axis=1)
        return {f"features_regret_at_{k}": float(regrets[:, k - 1].mean())
                for k in REPORT_SIZES}

    def _candidates(self, data: MetaDataset
                    ) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
        """The top trials of every task and ``n_extra`` random ones, without duplicates.

        Returns:
            the configurations, their encodings, and the index of the task each was tried on.
        """
        pool = [(h.configs[i], h.x[i], t) for t, h in enumerate(data.tasks.values())
                for i in range(h.n_trials)]
        ok = np.concatenate([h.ok for h in data.tasks.values()])
        chosen: list[int] = []
        offset = 0
        for history in data.tasks.values():
            ranked = np.argsort(-history.filled_scores(), kind="stable")
            chosen += [offset + int(i) for i in ranked[:self.per_task] if history.ok[i]]
            offset += history.n_trials
        rest = np.setdiff1d(np.flatnonzero(ok), chosen)
        rng = np.random.default_rng(self.seed)
        chosen += [int(i) for i in rng.permutation(rest)[:self.n_extra]]
        configs, rows, owners, seen = [], [], [], set()
        for i in chosen:
            key = pool[i][1].tobytes()
            if key not in seen and data.space.allows(pool[i][0]):  # never a forbidden one
                seen.add(key)
                configs.append(dict(pool[i][0]))
                rows.append(pool[i][1])
                owners.append(pool[i][2])
        if not rows:
            raise MetasearchError(f"no completed trial to build a portfolio from in family "
                                  f"{data.family!r}")
        return configs, np.stack(rows), np.asarray(owners, dtype=np.int64)

    def order(self, k: int, weights: np.ndarray | None = None) -> list[int]:
        """Indices of the first ``k`` candidates of the (weighted) greedy portfolio."""
        if not self.candidates:
            raise MetasearchError("the portfolio is not fitted: call fit() first")
        if weights is None:
            weights = np.full(len(self.task_ids), 1.0 / len(self.task_ids))
        return greedy_order(1.0 - self.scores, weights, k)

    def configs(self, k: int | None = None, context: TaskContext | None = None
                ) -> list[dict[str, Any]]:
        """The first ``k`` configurations to try (fewer if there are fewer candidates).

        Args:
            k: how many; the fitted default when None.
            context: the new task; with meta-features or >= 2 support trials the greedy
                selection weights each training task by its similarity to the new task.
        """
        size = self.k if k is None else k
        if size < 1:
            raise MetasearchError(f"a portfolio needs k >= 1, got {size!r}")
        weights = self.similarity.weights(context) if self.similarity.informative(context) \
            else None
        return [dict(self.candidates[i]) for i in self.order(size, weights)]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"candidate_x": self.candidate_x, "scores": self.scores,
                **prefixed(self.similarity.arrays(), "similarity.")}

    def settings(self) -> dict[str, Any]:
        return {"k": self.k, "per_task": self.per_task, "n_extra": self.n_extra,
                "seed": self.seed, "similarity": self.similarity_settings,
                "similarity_state": self.similarity.settings(),
                "candidates": json.loads(json.dumps(self.candidates))}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                data_space: Any) -> Portfolio:
        """Rebuild from :meth:`settings` and :meth:`arrays`; every candidate is re-validated."""
        model = cls(int(settings["k"]), int(settings["per_task"]), int(settings["n_extra"]),
                    int(settings["seed"]), settings.get("similarity"))
        model.similarity = TaskSimilarity.restore(settings["similarity_state"],
                                                  sub_arrays(arrays, "similarity."))
        space: SearchSpace = data_space
        model.candidates = [space.validate(c) for c in settings["candidates"]]
        model.candidate_x = np.asarray(arrays["candidate_x"], dtype=np.float64)
        model.scores = np.asarray(arrays["scores"], dtype=np.float64)
        if model.scores.shape != (len(model.candidates), len(model.task_ids)):
            raise MetasearchError(f"portfolio scores of shape {model.scores.shape} do not match "
                                  f"{len(model.candidates)} candidates x "
                                  f"{len(model.task_ids)} tasks")
        return model
