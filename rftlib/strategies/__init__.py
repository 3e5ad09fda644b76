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

Each strategy lives in its own module and registers itself in :data:`REGISTRY`; its options are a
dataclass whose defaults are the paper's configuration (``strategy_config(name, **overrides)``).
The strategies name layers by their role in a ViT block (q, k, v, proj, fc1, fc2; adapters after
attention and MLP); each architecture family (ViT/DeiT, Swin, ConvNeXt, ResNet) says in one module of
:mod:`rftlib.strategies.families` which of its layers play those roles.
"""
from __future__ import annotations

from torch import nn

from ..errors import RftError
from ..options import build_dataclass
from ._base import REGISTRY, Strategy, TrainingDefaults, backbone_of, classifier_modules, register
from ._batchnorm import freeze_batchnorm_statistics
from .families import FAMILIES, family_of

# Importing the strategy modules fills the registry.
from . import full, linear_probe, lora, adapter, compacter, bitfit, ia3  # noqa: E402,F401  isort: skip

#: Strategy names in the paper's order.
STRATEGIES: tuple[str, ...] = ("full", "linear_probe", "lora", "adapter", "compacter", "bitfit", "ia3")
assert set(STRATEGIES) == set(REGISTRY), "STRATEGIES and the registered strategy modules disagree"

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "STRATEGIES",
    "Strategy",
    "TrainingDefaults",
    "apply_strategy",
    "check_placement",
    "family_of",
    "register",
    "strategy_config",
    "trainable_parameters",
    "training_defaults",
]


def strategy_config(name: str, **overrides):
    """The options dataclass of strategy ``name``: the paper's configuration updated by ``overrides``.

    Validates without a model: an unknown strategy, an option the strategy lacks, a value of the
    wrong type or out of range raises RftError naming the valid choices.
    """
    strategy = REGISTRY.get(name)
    if overrides and not strategy.options.__dataclass_fields__:
        raise RftError(f"strategy {name!r} takes no options, got {', '.join(sorted(overrides))}")
    return build_dataclass(strategy.options, overrides, f"{name} option")


def apply_strategy(model: nn.Module, name: str, **overrides) -> nn.Module:
    """Prepare ``model`` for fine-tuning with strategy ``name``; modifies it in place and returns it.

    Adds the strategy's modules (adapters, LoRA, ...), freezes every parameter, then unfreezes the
    strategy's parameters and the classification head. Records ``model.rft_strategy = (name,
    options)``. ``model`` is a PixelSpaceClassifier from :func:`rftlib.models.build_model` or a bare
    timm model of any family in :data:`FAMILIES` (full, linear_probe and bitfit: any timm model).
    The classifier head(s) (``get_classifier()``) always train; a BatchNorm left with no trainable
    parameter keeps its pretrained running statistics (:mod:`rftlib.strategies._batchnorm`). Apply
    strategies before moving the model to its device or dtype, or after: new parameters are created
    on the device and in the dtype of the layers they attach to.
    """
    strategy = REGISTRY.get(name)
    options = strategy_config(name, **overrides)
    if getattr(model, "rft_strategy", None) is not None:
        raise RftError(
            f"model already prepared with strategy {model.rft_strategy[0]!r}; build a fresh model for {name!r}"
        )
    backbone = backbone_of(model)
    trainable = list(strategy.apply(backbone, options))  # checks the model before changing anything
    model.requires_grad_(False)
    for parameter in trainable:
        parameter.requires_grad_(True)
    for head in classifier_modules(backbone):
        head.requires_grad_(True)
    freeze_batchnorm_statistics(model)
    model.rft_strategy = (name, options)
    return model


def check_placement(model: nn.Module, name: str, **overrides) -> None:
    """RftError unless strategy ``name`` with ``overrides`` finds its layers in ``model`` (any family
    for full, linear_probe and bitfit; its roles or adapter positions in every block otherwise).
    Changes nothing and imports no peft, so it runs on a model built on the meta device before a run
    starts; ``apply_strategy`` makes the same checks when it applies the strategy."""
    from .families import adapter_sites, require_family, role_layers

    options = strategy_config(name, **overrides)
    backbone = backbone_of(model)
    if hasattr(options, "targets"):
        role_layers(backbone, require_family(backbone, name), options.targets, name)
    elif hasattr(options, "positions"):
        adapter_sites(backbone, require_family(backbone, name, adapters=True), options.positions)


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; a Parameter shared by several modules counts once."""
    trainable = total = 0
    for parameter in model.parameters():  # nn.Module.parameters() yields each Parameter once
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total


def training_defaults(name: str) -> dict:
    """The optimiser settings the paper uses with strategy ``name``: lr, weight_decay, warmup_steps,
    lr_schedule (full: 2e-5, 0.01, 0, "linear"; the others: 5e-3, 0.0, 800, "cosine")."""
    return REGISTRY.get(name).defaults.as_dict()
