"""Full fine-tuning: every parameter of the backbone and the new head trains."""
from __future__ import annotations

from torch import nn

from rftlib.strategies.config import NoOptions


def apply(backbone: nn.Module, options: NoOptions) -> list[nn.Parameter]:
    return list(backbone.parameters())
