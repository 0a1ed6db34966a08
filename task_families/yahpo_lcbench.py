"""``yahpo-lcbench``: the YAHPO Gym LCBench surrogate (Pfisterer et al., AutoML-Conf 2022).

An ONNX model, trained by YAHPO Gym's authors on LCBench (Zimmer et al., 2021), predicts the
learning curve of a funnel-shaped MLP with 7 hyperparameters on 34 OpenML tasks, one epoch at
a time up to 52. It runs with ``onnxruntime``, an optional dependency
(``pip install 'metasearch[benchmarks]'``) imported only when a task is evaluated.

It is YAHPO's ``lcbench`` scenario served like every other (:mod:`metasearch.families._yahpo`),
under the name and folder it has always had (``yahpo_lcbench/``, or ``yahpo/lcbench/``):
``OpenML_task_id`` becomes the task and ``epoch`` the budget; the other 7 hyperparameters keep
their bounds and log scales. The model's input follows YAHPO Gym: the task's integer code from
``encoding.json`` (``x_cat``), and ``epoch, batch_size, learning_rate, momentum, weight_decay,
num_layers, max_units, max_dropout`` as raw float32 values (``x_cont``); its outputs are ``time,
val_accuracy, val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
test_balanced_accuracy``. The curve is ``val_accuracy`` (percent) per epoch, all epochs
predicted in one batched call; the surrogate has no test accuracy, so the test value is None.

Meta-features: none. The data ships only the OpenML task ids (in the task id), no data-set
statistics; an id is a name, not a quantity, so it is not a feature.
"""

from __future__ import annotations

from metasearch.families import register_family
from metasearch.families._yahpo import YahpoFamily


@register_family
class YahpoLcbenchFamily(YahpoFamily):
    """LCBench learning curves from YAHPO Gym's surrogate (Pfisterer et al., 2022)."""

    name = "yahpo-lcbench"
    description = "YAHPO Gym LCBench surrogate: MLP curves on 34 OpenML tasks (public, ONNX)"
    scenario_name = "lcbench"
    subfolders = ("yahpo_lcbench", "yahpo/lcbench")
    metric = "val_accuracy"
    direction = "maximize"
    max_budget = 52
