"""Strategies applied to models: :func:`apply_strategy`, :func:`check_placement` (the same checks on a
model built on the meta device) and :func:`trainable_parameters`. Their options and registry entries
are in :mod:`rftlib.strategies.config`, torch-free."""
from __future__ import annotations

from torch import nn

from rftlib.core.errors import RftError
from rftlib.strategies._base import backbone_of, classifier_modules
from rftlib.strategies._batchnorm import freeze_batchnorm_statistics
from rftlib.strategies.config import REGISTRY, strategy_config


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
    from rftlib.strategies.families import adapter_sites, require_family, role_layers

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


__all__ = ["apply_strategy", "check_placement", "trainable_parameters"]
