"""The learning-curve model: a trial's final score from its first epochs, with uncertainty."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.special import ndtr

from metasearch.errors import MetasearchError
from metasearch.evaluation import resolve_device
from metasearch.metamodel._artifact import ModelError
from metasearch.metamodel._component import Component, FitReport, TaskContext
from metasearch.metamodel._data import MetaDataset
from metasearch.metamodel.curves._calibration import Recalibration
from metasearch.metamodel.curves._episodes import Draw, draw_task
from metasearch.metamodel.curves._evaluate import figures, mae_scorer, std_scales
from metasearch.metamodel.curves._features import FamilyPrior, Rows
from metasearch.metamodel.curves._predictor import Predictor

if TYPE_CHECKING:
    from metasearch.metamodel.curves._train import Batch  # torch: see CurveModel.fit

__all__ = ["CurveConfig", "CurveModel"]

FORMAT = 1
REPORT_EPOCHS = (1, 3, 5)
PROB_EPS = 1e-6  # prob_better stays inside (0, 1): no prediction is certain


@dataclass(frozen=True)
class CurveConfig:
    """Hyperparameters of :class:`CurveModel` (defaults: ~20 tasks in well under a minute).

    Attributes:
        hidden, layers, members: width and depth of each MLP, and the ensemble size.
        passes, patience: at most ``passes`` passes over freshly drawn samples; stop after
            ``patience`` passes without a better validation MAE.
        per_curve: samples drawn from each finished curve per pass.
        pass_size: at most about this many samples per pass (a random share of them on
            bigger warehouses), so the cost of a pass stays flat as the warehouse grows.
        batch_size, lr, weight_decay: AdamW settings.
        max_support: largest support set drawn in training.
        eval_support: support-set size of evaluation episodes.
        early_stop_epoch: the prefix length whose validation MAE selects the weights.
        prior_strength: pseudo-count shrinking a task's location and spread to the family's.
        min_std_frac: the predicted standard deviation never falls below this many task units.
        drop_meta, drop_curves: probability that a training sample hides the meta-features,
            or the support curves, so the model also serves tasks without them.
        seed: seeds initialisation, shuffling and episode draws.
        threads: torch intra-op threads while fitting (restored afterwards); tiny networks
            gain nothing from more, and lose much when other jobs share the cores.
    """

    hidden: int = 64
    layers: int = 2
    members: int = 5
    passes: int = 100
    patience: int = 15
    per_curve: int = 2
    pass_size: int = 3000
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_support: int = 50
    eval_support: int = 10
    early_stop_epoch: int = 3
    prior_strength: float = 3.0
    min_std_frac: float = 0.02
    drop_meta: float = 0.2
    drop_curves: float = 0.3
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "members", "passes", "patience", "per_curve",
                     "batch_size", "early_stop_epoch", "threads", "pass_size"):
            if int(getattr(self, name)) < 1:
                raise MetasearchError(f"CurveConfig.{name} must be >= 1, got "
                                      f"{getattr(self, name)!r}")
        for name in ("lr", "prior_strength", "min_std_frac"):
            if not float(getattr(self, name)) > 0:
                raise MetasearchError(f"CurveConfig.{name} must be > 0, got "
                                      f"{getattr(self, name)!r}")
        for name in ("drop_meta", "drop_curves"):
            if not 0 <= float(getattr(self, name)) < 1:
                raise MetasearchError(f"CurveConfig.{name} must be in [0, 1), got "
                                      f"{getattr(self, name)!r}")


class CurveModel(Component):
    """Predicts a trial's final score from a prefix of its learning curve, with uncertainty.

    Inputs are the prefix, the configuration's encoding and the task (its meta-features, and
    the scores and curves of its trials seen so far), all in the task's own units (see
    :mod:`._features`). The output is the normalised gain ``(final - last observed) / s``,
    so one network serves tasks of any scale, and a value that stays put is the easy default
    rather than something to learn.

    The model is a deep ensemble (Lakshminarayanan et al., 2017) of small MLPs, each with a
    Gaussian negative log-likelihood head, meta-trained on prefixes of every length cut from
    the warehouse's curves of all training tasks, early-stopped on validation tasks (MAE of
    the final after ``early_stop_epoch`` epochs), and its standard deviation recalibrated on
    them per prefix length. Why this rather than the alternatives: parametric curve families
    (Domhan et al., 2015) cannot express the rise-then-fall of an overfitting run unless that
    shape is in their basis, and need MCMC per curve; Bayesian neural networks over curves
    (Klein et al., 2017) and prior-fitted transformers (LC-PFN, Adriaensen et al., 2023) give
    principled posteriors but cost far more to train and run, and LC-PFN ignores the
    configuration and the task; DyHPO (Wistuba et al., 2022) conditions a deep-kernel GP on
    curves but is refitted during each search. An ensemble of small MLPs learns the family's
    curve shapes, uses the configuration (which decides, e.g., which runs overfit) and the
    task, trains in seconds on a CPU, and predicts in microseconds, which matters because the
    pruner calls it at every reported epoch.

    Prediction is numpy only: torch is imported when :meth:`fit` runs, never to predict.
    """

    kind: ClassVar[str] = "curves"

    def lacks(self, data: MetaDataset) -> str | None:
        if data.max_budget < 2:
            return (f"learning curves need max_budget >= 2, got {data.max_budget} (the history "
                    "has one value per trial, no intermediate values)")
        if not any(np.isfinite(h.scores).sum() >= 2 for h in data.tasks.values()):
            return "learning curves need a task with 2 or more finished trials"
        return None

    def __init__(self, config: CurveConfig | None = None, *, device: str = "cpu") -> None:
        self.config = config or CurveConfig()
        self.device = device
        self._predictor: Predictor | None = None

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, data: MetaDataset, validation: MetaDataset | None = None) -> FitReport:
        """Meta-train on every training task; early-stop and calibrate on ``validation``.

        Raises:
            MetasearchError: when curves are shorter than 2 steps, encodings or curves have
                inconsistent shapes, or no task has 2 finished trials.
        """
        # Lazy on purpose: the trainer imports torch, which predicting with a model does not.
        from metasearch.metamodel.curves._train import TrainPlan, train_ensemble

        started, cfg = time.perf_counter(), self.config
        rng = np.random.default_rng(cfg.seed)
        pred = _untrained(data, cfg)
        first = _draw(pred, data, rng, cfg)
        spread = first[0].features.std(axis=0)
        pred = pred.with_params(feature_mean=first[0].features.mean(axis=0),
                                feature_std=np.where(spread > 1e-8, spread, 1.0))
        plan = TrainPlan(cfg.hidden, cfg.layers, cfg.members, cfg.passes, cfg.patience,
                         cfg.batch_size, cfg.lr, cfg.weight_decay,
                         resolve_device(self.device), cfg.seed, cfg.threads)
        pending = [first]

        def draw() -> Batch:
            return _batch(pred, pending.pop() if pending else _draw(pred, data, rng, cfg))

        # Curves shorter than the configured prefix (a study reporting 2-5 steps) select
        # the weights on their longest proper prefix instead.
        stop_epoch = min(cfg.early_stop_epoch, pred.max_budget - 1)
        scorer = mae_scorer(pred, validation, stop_epoch, cfg.eval_support, cfg.seed)
        weights, best_pass = train_ensemble(len(spread), draw, scorer, plan)
        pred = pred.with_params(**weights)
        pred = pred.with_params(std_scale=std_scales(pred, validation, cfg.eval_support,
                                                     cfg.seed))
        self._predictor = pred
        return FitReport(train=self.evaluate(data),
                         validation=self.evaluate(validation) if validation else {},
                         seconds=time.perf_counter() - started, epochs=best_pass)

    # -- prediction ------------------------------------------------------------------------

    def predict(self, prefixes: np.ndarray, x: np.ndarray, context: TaskContext | None = None,
                support_curves: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each trial's final score, in the task's units.

        Args:
            prefixes: ``(m, K)`` (or narrower) curve values, NaN after each prefix's end;
                NaN holes inside a prefix take the previous value. An all-NaN row predicts
                from the configuration and task alone; a complete row returns its last value.
            x: ``(m, d)`` encodings of the trials' configurations.
            context: the task's meta-features and support set (its other trials' scores).
            support_curves: ``(n_support, K)`` the support trials' curves, aligned with
                ``context.scores``; optional, they tell how curves go on this task.

        Returns:
            ``mean`` and ``std``, each ``(m,)``; ``std`` never below ``min_std_frac`` times
            the task's spread.

        Raises:
            MetasearchError: on shapes that disagree with each other or with the model, or
                before :meth:`fit`.
        """
        return self._fitted.predict(prefixes, x, context, support_curves)

    def prob_better(self, prefixes: np.ndarray, x: np.ndarray, threshold: float | np.ndarray,
                    context: TaskContext | None = None,
                    support_curves: np.ndarray | None = None,
                    recalibration: Recalibration | None = None) -> np.ndarray:
        """Probability that each trial's final score exceeds ``threshold`` (scalar or (m,)).

        Computed with the floored standard deviation, corrected by ``recalibration`` (see
        :meth:`recalibrate`) when given, and clipped to ``[1e-6, 1 - 1e-6]``, so the pruner
        never acts on a prediction that claims certainty.
        """
        limit = np.asarray(threshold, dtype=np.float64)
        if not np.isfinite(limit).all():
            raise MetasearchError(f"threshold must be finite, got {threshold!r}")
        mean, std = self.predict(prefixes, x, context, support_curves)
        if limit.ndim > 0 and limit.shape != mean.shape:
            raise MetasearchError(f"threshold must be a number or have shape {mean.shape}, "
                                  f"got shape {limit.shape}")
        fix = recalibration or Recalibration()
        z = (mean + fix.shift * std - limit) / (fix.scale * std)
        return np.clip(ndtr(z), PROB_EPS, 1 - PROB_EPS)

    def recalibrate(self, x: np.ndarray, context: TaskContext, support_curves: np.ndarray,
                    k: int, prior_count: float) -> Recalibration:
        """The study's own correction after ``k`` steps, from its finished trials' curves.

        Each support trial's final is predicted from its first ``k`` steps with the others as
        its support (leave-one-out), and the standardised errors are shrunk towards none by
        ``prior_count`` pseudo-residuals (see :class:`Recalibration`).

        Raises:
            MetasearchError: on shapes that disagree, or ``k`` outside ``1..K-1``.
        """
        mean, std, truth = self._fitted.predict_support(x, context, support_curves, k)
        return Recalibration.from_residuals((truth - mean) / std, prior_count)

    def evaluate(self, data: MetaDataset, epochs: Sequence[int] = REPORT_EPOCHS
                 ) -> dict[str, float]:
        """MAE of the predicted final after each of ``epochs`` epochs, against the last value.

        Per task, a seeded support set of ``eval_support`` trials (scores and curves) is what
        the model knows; every other finished trial whose curve reaches ``k`` is a query.
        Also the share of true finals inside mean +- 2 std (``coverage_2std_after_k``); on
        the validation tasks that share is in-sample, since they calibrate the std.
        """
        cfg, fitted = self.config, self._fitted
        within = [k for k in epochs if k < fitted.max_budget]  # short curves: fewer rows
        return figures(fitted, data, within, cfg.eval_support, cfg.seed)

    @property
    def _fitted(self) -> Predictor:
        if self._predictor is None:
            raise MetasearchError("the learning-curve model is not fitted: call fit() or "
                                  "restore() first")
        return self._predictor

    # -- persistence -----------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.array(value) for name, value in self._fitted.params.items()}

    def settings(self) -> dict[str, Any]:
        return {"format": FORMAT, "config": asdict(self.config), "device": self.device,
                **self._fitted.settings()}

    @classmethod
    def restore(cls, settings: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                data_space: Any) -> CurveModel:
        """Rebuild a fitted model; a malformed or foreign state is a :class:`ModelError`."""
        if settings.get("format") != FORMAT:
            raise ModelError(f"curves: unknown format {settings.get('format')!r} "
                             f"(this metasearch reads {FORMAT})")
        try:
            model = cls(CurveConfig(**settings["config"]), device=str(settings["device"]))
            pred = Predictor(int(settings["max_budget"]), int(settings["n_x"]),
                             tuple(settings["meta_names"]), FamilyPrior(**settings["prior"]),
                             float(settings["min_std_frac"]),
                             {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
        except (KeyError, TypeError, ValueError, MetasearchError) as exc:
            raise ModelError(f"curves: malformed settings: {exc}") from exc
        width = getattr(data_space, "encoding_length", pred.n_x)
        if width != pred.n_x:
            raise ModelError(f"curves: model encodes {pred.n_x} numbers per configuration, "
                             f"this space {width}")
        pred.check()
        model._predictor = pred
        return model


def _untrained(data: MetaDataset, cfg: CurveConfig) -> Predictor:
    """Sizes, meta-feature scaling and family prior of ``data``, without weights yet."""
    if data.max_budget < 2:
        raise MetasearchError(f"learning curves need max_budget >= 2, got {data.max_budget}")
    widths = {h.x.shape[1] for h in data.tasks.values()}
    if len(widths) != 1:
        raise MetasearchError(f"tasks disagree on the encoding width: {sorted(widths)}")
    for history in data.tasks.values():
        if history.curves.shape != (history.n_trials, data.max_budget):
            raise MetasearchError(f"task {history.task!r}: curves have shape "
                                  f"{history.curves.shape}, expected "
                                  f"({history.n_trials}, {data.max_budget})")
    names = tuple(data.feature_names())
    table = np.array([[h.meta_features[n] for n in names] for h in data.tasks.values()])
    spread = table.std(axis=0) if names else np.zeros(0)
    prior = FamilyPrior.from_scores([h.scores for h in data.tasks.values()],
                                    cfg.prior_strength)
    return Predictor(data.max_budget, widths.pop(), names, prior, cfg.min_std_frac,
                     {"meta_mean": table.mean(axis=0) if names else np.zeros(0),
                      "meta_std": np.where(spread > 1e-12, spread, 1.0)})


def _draw(pred: Predictor, data: MetaDataset, rng: np.random.Generator,
          cfg: CurveConfig) -> tuple[Rows, np.ndarray]:
    """One pass's samples from every training task: rows and their true finals."""
    finished = sum(int(np.isfinite(h.scores).sum()) for h in data.tasks.values())
    keep = min(1.0, cfg.pass_size / max(finished * cfg.per_curve, 1))
    draw = Draw(cfg.per_curve, cfg.max_support, cfg.drop_meta, cfg.drop_curves, keep)
    parts = [draw_task(h, rng, draw, pred.meta(h.meta_features), pred.prior)
             for h in data.tasks.values()]
    kept = [p for p in parts if p is not None]
    rows = Rows(*(np.concatenate([getattr(r, f.name) for r, _ in kept]) for f in fields(Rows)))
    return rows, np.concatenate([y for _, y in kept])


def _batch(pred: Predictor, drawn: tuple[Rows, np.ndarray]) -> Batch:
    """Standardised inputs and normalised-gain targets for the trainer."""
    from metasearch.metamodel.curves._train import Batch

    rows, finals = drawn
    return Batch(pred.standardise(rows), (finals - rows.anchor) / rows.scale)
