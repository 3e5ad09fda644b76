"""Linear probing: the pretrained backbone stays frozen; only the new classification head trains."""
from __future__ import annotations

from torch import nn

from ._base import PEFT_DEFAULTS, NoOptions, register


@register("linear_probe", options=NoOptions, defaults=PEFT_DEFAULTS, summary="the classification head only")
def apply(backbone: nn.Module, options: NoOptions) -> list[nn.Parameter]:
    return []  # apply_strategy unfreezes the head for every strategy
