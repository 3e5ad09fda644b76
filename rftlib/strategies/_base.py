"""The strategy registry and what every strategy declares: options, training defaults, what it trains.

Each strategy module registers one function ``apply(backbone, options) -> parameters to train`` with
:func:`register`; :func:`rftlib.strategies.apply_strategy` does the freezing, the head and the
bookkeeping, so a strategy module only says what it adds and what it unfreezes.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from ..registry import Registry

ApplyFn = Callable[[nn.Module, object], Iterable[nn.Parameter]]


@dataclass(frozen=True)
class TrainingDefaults:
    """A strategy's default optimiser settings, after the released code (STUDY.md, "Training"): its
    schedules and warm-up; for the PEFT strategies, lr 5e-3 and weight decay 0 from its code comments
    (its command line defaults to lr 2e-5 and weight decay 0.01 for every strategy).

    Attributes:
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay (the trainer exempts biases and norms).
        warmup_steps: linear warm-up steps before the schedule.
        lr_schedule: decay after warm-up: "linear" (to 0) or "cosine".
    """

    lr: float
    weight_decay: float
    warmup_steps: int
    lr_schedule: Literal["linear", "cosine"]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# Full fine-tuning: lr 2e-5, wd 0.01, linear decay, no warm-up (HF Trainer defaults of the released code).
FULL_DEFAULTS = TrainingDefaults(lr=2e-5, weight_decay=0.01, warmup_steps=0, lr_schedule="linear")
# Every other strategy: cosine with 800 warm-up steps; lr 5e-3 and wd 0 as the released code's comments suggest.
PEFT_DEFAULTS = TrainingDefaults(lr=5e-3, weight_decay=0.0, warmup_steps=800, lr_schedule="cosine")


@dataclass(frozen=True)
class Strategy:
    """One registry entry.

    Attributes:
        name: registry name, e.g. "lora".
        options: dataclass of the strategy's hyperparameters (defaults = the paper's configuration).
        apply: ``apply(backbone, options)`` modifies the timm model in place and returns the parameters
            the strategy trains (the classifier head is added by ``apply_strategy``).
        defaults: the optimiser settings the paper uses with it.
        summary: one line on what trains, for tables and ``--help``.
    """

    name: str
    options: type
    apply: ApplyFn
    defaults: TrainingDefaults
    summary: str


REGISTRY: Registry[Strategy] = Registry("strategy")


def register(name: str, *, options: type, defaults: TrainingDefaults, summary: str) -> Callable[[ApplyFn], ApplyFn]:
    """Decorator above a strategy's ``apply`` function: files it in :data:`REGISTRY` under ``name``."""

    def decorator(apply: ApplyFn) -> ApplyFn:
        REGISTRY.add(name, Strategy(name, options, apply, defaults, summary))
        return apply

    return decorator


@dataclass(frozen=True)
class NoOptions:
    """For strategies without hyperparameters (full, linear_probe, bitfit)."""


def backbone_of(model: nn.Module) -> nn.Module:
    """The timm model inside ``model`` (a PixelSpaceClassifier) or ``model`` itself (a bare timm model)."""
    from ..errors import RftError

    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "get_classifier"):
        raise RftError(
            f"expected a model from rftlib.build_model or a timm model, got {type(model).__name__}"
        )
    return backbone


def classifier_modules(backbone: nn.Module) -> list[nn.Module]:
    """The classification head(s), whatever the family calls them: timm's ``get_classifier()`` (ViT
    ``head``, Swin and ConvNeXt ``head.fc``, ResNet ``fc``; a tuple of two heads for distilled DeiT)."""
    head = backbone.get_classifier()
    return list(head) if isinstance(head, (tuple, list)) else [head]
