"""What every strategy's ``apply`` works on: the timm backbone inside a model, and its head(s).

Each strategy module defines one function ``apply(backbone, options) -> parameters to train`` (its
entry in :mod:`rftlib.strategies.config` names the module); :func:`rftlib.strategies.apply_strategy`
does the freezing, the head and the bookkeeping, so a strategy module only says what it adds and what
it unfreezes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import nn

ApplyFn = Callable[[nn.Module, object], Iterable[nn.Parameter]]


def backbone_of(model: nn.Module) -> nn.Module:
    """The timm model inside ``model`` (a PixelSpaceClassifier) or ``model`` itself (a bare timm model)."""
    from rftlib.core.errors import RftError

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
