"""Batched (HFTA-style) training: the same models as one at a time, each failing or pruned alone.

Dropout is off in every equivalence check: under ``vmap`` the masks come from another stream
than the one-at-a-time path's, so models with dropout are only statistically alike.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from torch import nn

from metasearch.evaluation import CurveRecorder, DataSplits, batched
from metasearch.evaluation import torch_training as tt
from metasearch.families import get_family
from metasearch.samplers import TaskObjective, create_task_study, make_sampler

MLP = {"width": 32, "depth": 2, "dropout": 0.0, "activation": "tanh", "batch_size": 32}
CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def _settings(**overrides: Any) -> list[tt.TrainSettings]:
    rows = [(0.01, 1e-3, 0.5), (0.05, 0.0, 0.0), (0.002, 1e-2, 0.9)]
    return [tt.TrainSettings(epochs=2, lr=lr, weight_decay=wd, momentum=m, **overrides)
            for lr, wd, m in rows]


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_stacked_optimizer_follows_torch_optim(name: str) -> None:
    settings = _settings(optimizer=name)
    start = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0))
    stacked = start.clone()
    optimizer = batched.StackedOptimizer([stacked], settings)
    singles = [nn.Parameter(start[i].clone()) for i in range(3)]
    torch_opts = [tt.make_optimizer(iter([p]), s)
                  for p, s in zip(singles, settings, strict=True)]
    for step in range(15):
        grad = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(step + 1))
        optimizer.step([stacked], [grad])
        for i, opt in enumerate(torch_opts):
            singles[i].grad = grad[i].clone()
            opt.step()
    for i in range(3):
        torch.testing.assert_close(stacked[i], singles[i].detach(), rtol=1e-5, atol=1e-6)


def _data(n: int, shape: tuple[int, ...], classes: int) -> DataSplits:
    rng = np.random.default_rng(0)
    parts: list[Any] = []
    for rows in (n, n // 2, n // 2):
        parts += [rng.normal(size=(rows, *shape)).astype(np.float32),
                  rng.integers(0, classes, size=rows)]
    return DataSplits(*parts)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def _cnn() -> nn.Module:  # batch norm: running statistics must stay per model too
    # No conv bias before batch norm (as in NAS-Bench-201): its gradient is rounding noise,
    # which Adam scales up to full steps, so it would differ by chance, not by error.
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


@pytest.mark.parametrize(("build", "shape"), [(_mlp, (6,)), (_cnn, (1, 6, 6))])
@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_stacked_models_end_where_one_at_a_time_ends(build: Any, shape: tuple[int, ...],
                                                     name: str) -> None:
    data = _data(96, shape, 3)
    settings = [tt.TrainSettings(**{**vars(s), "batch_size": 16})
                for s in _settings(optimizer=name)]
    alone, models, members = [], [], []
    for seed, setting in enumerate(settings):
        torch.manual_seed(seed)
        model = build()
        models.append(copy.deepcopy(model))
        tt.train_classifier(model, data, setting, device="cpu",
                            generator=torch.Generator().manual_seed(seed), curve=CurveRecorder())
        alone.append(model.state_dict())
        members.append(batched.Member(setting, torch.Generator().manual_seed(seed),
                                      CurveRecorder()))
    forward, params, buffers = batched.vmap_forward(models, "cpu")
    batched.train_classifiers_batched(forward, params, buffers, data, members, device="cpu")
    for i, state in enumerate(alone):
        for key, value in state.items():
            got = (params | buffers)[key][i]
            torch.testing.assert_close(got.detach(), value, rtol=1e-4, atol=1e-5, msg=key)


def _configs(family: str, base: dict[str, Any]) -> list[dict[str, Any]]:
    lrs = {"adam": 3e-3, "adamw": 1e-2, "sgd": 3e-2}
    momentum = {"momentum": 0.5} if family == "tabular-mlp" else {}
    return [{**base, "optimizer": opt, "lr": lr, "weight_decay": wd,
             **(momentum if opt == "sgd" else {})}
            for opt, lr in lrs.items() for wd in (1e-5, 1e-3)]


@pytest.mark.parametrize(
    ("family", "task", "base", "tolerance"),
    [
        ("tabular-mlp", "wine", MLP, 1e-6),
        # Accuracy is a count: a logit that moves by 1e-6 can flip one image of ~100.
        ("cell-cnn", "digits-c012", {"cell": CELL, "channels": 8, "batch_size": 64}, 0.03),
    ],
)
def test_evaluate_batch_equals_evaluate(family: str, task: str, base: dict[str, Any],
                                        tolerance: float, monkeypatch: pytest.MonkeyPatch) -> None:
    the_task = get_family(family).task(task)
    # cell-cnn stacks on CUDA only by default (slower on a CPU); the equivalence holds anywhere.
    monkeypatch.setattr(sys.modules[type(the_task).__module__], "STACK_ON_CPU", True,
                        raising=False)
    configs = _configs(family, base)
    seeds = list(range(len(configs)))
    alone = [the_task.evaluate(c, 2, device="cpu", seed=s)
             for c, s in zip(configs, seeds, strict=True)]
    together = the_task.evaluate_batch(configs, 2, device="cpu", seeds=seeds)
    assert len({the_task.batch_key(r.config) for r in together}) == 3  # one stack per optimizer
    for one, many in zip(alone, together, strict=True):
        assert (many.status, many.config, many.seed, many.budget) == (
            one.status, one.config, one.seed, one.budget)
        np.testing.assert_allclose(many.curve, one.curve, atol=tolerance)
        assert many.test_value == pytest.approx(one.test_value, abs=tolerance)


def test_a_diverging_model_fails_alone() -> None:
    task = get_family("tabular-mlp").task("iris")
    shape = {**MLP, "width": 256, "depth": 4, "activation": "relu", "batch_size": 16,
             "optimizer": "rmsprop", "weight_decay": 1e-6}
    configs = [{**shape, "lr": 1e-3, "momentum": 0.0}, {**shape, "lr": 0.1, "momentum": 0.99},
               {**shape, "lr": 3e-3, "momentum": 0.0}]
    results = task.evaluate_batch(configs, 3, device="cpu", seeds=[0, 1, 2])
    assert [r.status for r in results] == ["complete", "failed", "complete"]
    assert "diverged" in str(results[1].failure_reason)
    assert len(results[0].curve) == len(results[2].curve) == 3
    alone = task.evaluate(configs[2], 3, device="cpu", seed=2)
    np.testing.assert_allclose(results[2].curve, alone.curve, atol=1e-6)


class _PruneOddTrials(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number % 2 == 1 and max(trial.intermediate_values) >= 2


def test_optimize_batched_prunes_each_trial_alone(tmp_path: Any) -> None:
    task = get_family("tabular-mlp").task("iris")
    study = create_task_study(task, sampler=make_sampler("random", 0), pruner=_PruneOddTrials(),
                              storage=f"sqlite:///{tmp_path / 's.db'}", study_name="b")
    for config in _configs("tabular-mlp", MLP)[:4]:  # one shape per optimizer: stacks of two
        study.enqueue_trial(config)
    seen: list[str] = []
    objective = TaskObjective(task, budget=3, device="cpu", seed=5)
    objective.hooks.append(lambda trial, result: seen.append(result.status))
    objective.optimize_batched(study, n_trials=5, batch=4)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED", "COMPLETE"]
    assert seen == ["complete", "pruned", "complete", "pruned", "complete"]
    pruned = study.trials[1]
    assert sorted(pruned.intermediate_values) == [1, 2]
    assert pruned.user_attrs["seed"] == 6 and "metasearch_config" in pruned.user_attrs
    complete = study.trials[2]
    alone = task.evaluate(complete.user_attrs["metasearch_config"], 3, device="cpu", seed=7)
    assert complete.value == pytest.approx(alone.final_value, abs=1e-6)
