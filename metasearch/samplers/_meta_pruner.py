"""MetaPruner: the meta-learned curve model behind Optuna's pruner API.

A trial is stopped when the curve model, given what the trial has reported so far, its
configuration, and the study's other trials, finds it unlikely to beat the study's best.
Like MetaSampler, the pruner reads the study afresh on every call, so one instance serves any
number of threads, processes and studies; what it keeps (completed trials' encodings and
curves, and what was measured on exactly those trials) is keyed by the trials it came from
(:class:`~metasearch.samplers._pruner_support.CompletedCache`), never by the study alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from metasearch.metamodel import MetaModel, TaskContext
from metasearch.metamodel.curves import CurveModel, Recalibration
from metasearch.samplers._from_studies import PRUNER_KINDS, StudiesLike, learn_from_studies
from metasearch.samplers._meta_loading import resolve_model
from metasearch.samplers._meta_support import encode_flat
from metasearch.samplers._pruner_support import CompletedCache, StudyCurves, trial_curve

__all__ = ["MetaPruner"]

_logger = optuna.logging.get_logger(__name__)


class MetaPruner(BasePruner):
    """An Optuna pruner that stops trials the meta-learned curve model expects to lose.

    At each reported step the curve model (a deep ensemble meta-trained on the warehouse's
    curves, see :class:`~metasearch.metamodel.curves.CurveModel`) predicts the distribution
    of the trial's final value from its curve so far, its configuration, the task's
    meta-features and the study's finished trials and their curves. The trial is pruned when
    the probability that its final value beats the study's best is below
    ``1 - confidence``. Nothing is pruned before ``min_epochs`` reported steps, before
    ``min_finished`` trials have completed (there is no best to beat), or once the trial has
    reported the model's full budget.

    The model is calibrated on meta-training's validation tasks, pooled; on a new task it can
    still be biased. So the prediction is recalibrated on the study itself
    (:meth:`~metasearch.metamodel.curves.CurveModel.recalibrate`): its last
    ``calibration_trials`` completed trials, each cut after the same number of steps and
    predicted from the others, measure how far the model's errors run on this task, and
    the predicted distribution is shifted up and widened by that much (never the other way),
    shrunk towards no correction by ``prior_count`` pseudo-trials while they are few.

    While evidence is thin (fewer than ``evidence_trials`` completed trials), no more trials
    are pruned than have completed: the sampler learns a configuration's worth from completed
    trials (a pruned one tells it only a partial value), and the recalibration above learns
    from completed curves, so a pruner that stops nearly everything early starves both.

    Without a curve model (cold start, or a model trained without one), and for trials whose
    parameters are not a configuration of the model's space, the decision goes to
    ``fallback`` (Optuna's ``MedianPruner`` with the same warm-up by default), so the pruner
    is always sound.

    Args:
        model: the meta-model of the task's family; None for cold start.
        task_features: the task's meta-features (sharpen the prediction).
        min_epochs: reported steps before any decision.
        confidence: how sure the model must be that the trial will not beat the best; the
            trial is pruned when ``P(final better than best) < 1 - confidence``. The test is
            made at every reported step and on every trial, so a per-test error of 5% would
            lose a good trial now and then; 0.99 keeps almost every one.
        min_finished: completed trials needed before anything is pruned.
        fallback: the pruner used where the curve model cannot judge.
        recalibrate: correct the prediction by the study's own errors (False: the
            meta-trained calibration alone, as before).
        calibration_trials: most recent completed trials the correction is measured on.
        prior_count: pseudo-trials of no correction the measured one is shrunk towards.
        evidence_trials: completed trials until which at most as many trials are pruned as
            have completed (0: no such cap).
    """

    def __init__(
        self,
        model: MetaModel | None = None,
        *,
        task_features: Mapping[str, float] | None = None,
        min_epochs: int = 3,
        confidence: float = 0.99,
        min_finished: int = 1,
        fallback: BasePruner | None = None,
        recalibrate: bool = True,
        calibration_trials: int = 50,
        prior_count: float = 3.0,
        evidence_trials: int = 20,
    ) -> None:
        if isinstance(min_epochs, bool) or not isinstance(min_epochs, int) or min_epochs < 1:
            raise ValueError(f"min_epochs must be an integer >= 1, got {min_epochs!r}")
        if not 0.5 <= confidence < 1.0:
            raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")
        if min_finished < 1:
            raise ValueError(f"min_finished must be >= 1, got {min_finished!r}")
        if calibration_trials < 2:
            raise ValueError(f"calibration_trials must be >= 2, got {calibration_trials!r}")
        if not prior_count > 0:
            raise ValueError(f"prior_count must be > 0, got {prior_count!r}")
        if evidence_trials < 0:
            raise ValueError(f"evidence_trials must be >= 0, got {evidence_trials!r}")
        self._evidence_trials = evidence_trials
        self._recalibrate = recalibrate
        self._calibration_trials = calibration_trials
        self._prior_count = prior_count
        self._model = model
        self._curves = model.get("curves") if model is not None else None
        self._features = dict(task_features) if task_features is not None else None
        self._min_epochs = min_epochs
        self._confidence = confidence
        self._min_finished = min_finished
        self._fallback = fallback if fallback is not None else optuna.pruners.MedianPruner(
            n_startup_trials=max(min_finished, 5), n_warmup_steps=min_epochs - 1)
        self._completed = CompletedCache(model.space, model.max_budget, self._features) \
            if model is not None else None

    @classmethod
    def from_warehouse(
        cls,
        path_or_url: str | Path | None = None,
        *,
        family: str,
        task_features: Mapping[str, float] | None = None,
        model: MetaModel | str | Path | None = None,
        **kwargs: Any,
    ) -> MetaPruner:
        """The pruner for ``family`` with its model from the warehouse's ``models/<family>``.

        As :meth:`MetaSampler.from_warehouse`: with no model named and no usable default it
        warns once (:class:`~metasearch.samplers.ColdStartWarning`) and falls back.

        Raises:
            ModelError: ``model`` was named and is missing, corrupt, or mismatched.
        """
        return cls(resolve_model(path_or_url, family, model), task_features=task_features,
                   **kwargs)

    @classmethod
    def from_studies(
        cls,
        studies: StudiesLike,
        *,
        names: str | Sequence[str] | None = None,
        cache_dir: str | Path | None = None,
        train_seed: int = 0,
        device: str = "auto",
        **kwargs: Any,
    ) -> MetaPruner:
        """The pruner whose curve model is learned from past studies' intermediate values.

        As :meth:`MetaSampler.from_studies` (same arguments, same cache), for the curve model.

        Raises:
            ValueError: the studies report fewer than two intermediate values per trial
                (``trial.report``), so there are no learning curves to learn from.
        """
        model, _ = learn_from_studies(studies, names=names, kinds=PRUNER_KINDS, seed=train_seed,
                                      cache_dir=cache_dir, device=device)
        return cls(model, **kwargs)

    @property
    def model(self) -> MetaModel | None:
        """The meta-model in use, or None when cold-starting."""
        return self._model

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        # The study's correction only moves a prediction towards keeping the trial (shift >= 0,
        # scale >= 1, and the threshold 1 - confidence <= 0.5 sits at z <= 0), so a trial the
        # uncorrected model keeps stays kept: the costly leave-one-out correction is measured
        # only for a trial that would otherwise be pruned, and that the evidence cap lets go.
        query = self._query(study, trial)
        if query is None:
            return self._fallback.prune(study, trial)
        probability = self._probability(query, recalibrate=False)
        if probability >= 1.0 - self._confidence or not self._may_prune(study):
            return False
        if self._recalibrate:
            probability = self._probability(query, recalibrate=True)
        return probability < 1.0 - self._confidence

    def _may_prune(self, study: Study) -> bool:
        """False while evidence is thin and as many trials are pruned as have completed."""
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        finished = study.get_trials(deepcopy=False, states=states)
        complete = sum(t.state == TrialState.COMPLETE for t in finished)
        return complete >= self._evidence_trials or len(finished) - complete < complete

    def probability_better(self, study: Study, trial: FrozenTrial) -> float | None:
        """P(the trial's final value beats the study's best), or None where the model can't say.

        Returns 1.0 (never prune) while the trial is inside its warm-up, before enough trials
        have finished, or once its curve is complete; None where the curve model does not
        apply (no model, or parameters outside its space), which defers to ``fallback``.
        """
        query = self._query(study, trial)
        return None if query is None else self._probability(query, recalibrate=self._recalibrate)

    def _query(self, study: Study, trial: FrozenTrial) -> _Query | float | None:
        """What a decision on ``trial`` reads of it and of the study; a number where that
        decides already (1.0: keep), None where the curve model does not apply."""
        if self._model is None or self._curves is None or self._completed is None \
                or len(study.directions) > 1:
            return None
        seen = len(trial.intermediate_values)
        width = self._model.max_budget
        if seen < self._min_epochs or seen >= width:
            return 1.0
        x = encode_flat(self._model.space, trial.params)
        if x is None:
            return None
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.values is not None and math.isfinite(t.values[0])]
        if len(done) < self._min_finished:
            return 1.0
        return _Query(self._curves, x, sign * trial_curve(trial, width), seen,
                      self._completed.read(study, done, sign))

    def _probability(self, query: _Query | float, *, recalibrate: bool) -> float:
        if not isinstance(query, _Query):
            return query
        study = query.study
        fix = self._study_calibration(query.model, study, query.seen) if recalibrate else None
        probability = query.model.prob_better(query.prefix[None, :], query.x[None, :],
                                               study.best, study.context, study.curves, fix)
        return float(probability[0])

    def _study_calibration(self, model: CurveModel, study: StudyCurves, k: int
                           ) -> Recalibration | None:
        """The correction measured on the last ``calibration_trials`` completed trials.

        Kept on ``study`` (the very completed trials it was measured on) by ``k``: while no
        trial completes, every trial that reaches step ``k`` would measure the same one.
        """
        if k not in study.fixes:
            study.fixes[k] = self._measure_calibration(model, study.context, study.curves, k)
        return study.fixes[k]

    def _measure_calibration(self, model: CurveModel, context: TaskContext,
                             curves: np.ndarray | None, k: int) -> Recalibration | None:
        if curves is None or len(curves) < 2:
            return None
        last = slice(-self._calibration_trials, None)
        recent = TaskContext(meta_features=context.meta_features, x=context.x[last],
                             scores=context.scores[last])
        return model.recalibrate(recent.x, recent, curves[last], k, self._prior_count)


class _Query(NamedTuple):
    """A trial to decide on: the curve model, the trial's encoding, oriented prefix and
    length, and the study's completed trials."""

    model: CurveModel
    x: np.ndarray
    prefix: np.ndarray
    seen: int
    study: StudyCurves
