"""Full fine-tuning: every parameter of the backbone and the new head trains."""
from __future__ import annotations

from torch import nn

from ._base import FULL_DEFAULTS, NoOptions, register


@register("full", options=NoOptions, defaults=FULL_DEFAULTS, summary="every parameter")
def apply(backbone: nn.Module, options: NoOptions) -> list[nn.Parameter]:
    return list(backbone.parameters())
