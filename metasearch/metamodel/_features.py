"""How tasks and configurations are compared: scaled meta-features, task similarity, layouts.

Three things every gradient-free component of the meta-model shares:

* :class:`EncodingLayout` says which columns of the space's one encoding belong to which
  hyperparameter or cell edge, so models can weigh, perturb and decode each on its own scale.
* :class:`TaskResponses` is a cheap model of each training task's response surface (a GP
  posterior mean in the encoded space), used to estimate how a configuration tried on one task
  would have done on another (warehouse tasks do not share configurations).
* :class:`MetaFeatureScaler` and :class:`TaskSimilarity` turn a new task's meta-features and
  support set into weights over the training tasks.
"""
from __future__ import annotations

from metasearch.metamodel._component import prefixed, sub_arrays
from metasearch.metamodel._encoding import Block, EncodingLayout, from_unit, to_unit
from metasearch.metamodel._responses import TaskResponses
from metasearch.metamodel._similarity import MetaFeatureScaler, TaskSimilarity, discordances

__all__ = [
    "Block",
    "EncodingLayout",
    "MetaFeatureScaler",
    "TaskResponses",
    "TaskSimilarity",
    "discordances",
    "from_unit",
    "prefixed",
    "sub_arrays",
    "to_unit",
]
