"""The seven fine-tuning strategies of the paper, applied in place to a model from ``build_model``.

============  ==================================================================  ====================
name          what trains (besides the new head)                                  after
============  ==================================================================  ====================
full          everything                                                          —
linear_probe  nothing else                                                        —
lora          rank-8 updates of q, k, v (separately), fc1, fc2                    Hu et al. 2021
adapter       Houlsby bottleneck adapters (width 96) after attn.proj and fc2      Houlsby et al. 2019
compacter     PHM adapters (width 24, n = 4, rank 1, one shared rule)             Karimi Mahabadi et al. 2021
bitfit        every bias                                                          Ben Zaken et al. 2022
ia3           vectors scaling the outputs of k, v, fc1, fc2                       Liu et al. 2022
============  ==================================================================  ====================

Example::

    model = apply_strategy(build_model(), "lora", r=4)
    trainable, total = trainable_parameters(model)
    optimiser_settings = training_defaults("lora")

Each strategy's options (a dataclass whose defaults are the paper's configuration,
``strategy_config(name, **overrides)``), training defaults and summary are registered in
:mod:`rftlib.strategies.config`, which needs no torch; its ``apply`` lives in its own module, loaded on
first use, as are the names below that work on models (:mod:`rftlib.strategies.prepare`).
The strategies name layers by their role in a ViT block (q, k, v, proj, fc1, fc2; adapters after
attention and MLP); each architecture family (ViT/DeiT, Swin, ConvNeXt, ResNet) says in one module of
:mod:`rftlib.strategies.families` which of its layers play those roles.

May use: core, models.
"""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports
from rftlib.strategies.config import REGISTRY, STRATEGIES, Strategy, TrainingDefaults, register, strategy_config, training_defaults

# Loaded on first use: they import torch (and the families' timm classes).
_ON_MODELS = {"apply_strategy": "prepare", "check_placement": "prepare", "trainable_parameters": "prepare",
              "FAMILIES": "families", "family_of": "families",
              # the parts of a model every strategy agrees on (remedies and training stages use them too)
              "backbone_of": "_base", "classifier_modules": "_base"}

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "STRATEGIES",
    "Strategy",
    "TrainingDefaults",
    "apply_strategy",
    "backbone_of",
    "check_placement",
    "classifier_modules",
    "family_of",
    "register",
    "strategy_config",
    "trainable_parameters",
    "training_defaults",
]

__getattr__, __dir__ = lazy_exports(__name__, _ON_MODELS)
