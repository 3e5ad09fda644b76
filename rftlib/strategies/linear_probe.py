"""Linear probing: the pretrained backbone stays frozen; only the new classification head trains."""
from __future__ import annotations

from torch import nn

from rftlib.strategies.config import NoOptions


def apply(backbone: nn.Module, options: NoOptions) -> list[nn.Parameter]:
    return []  # apply_strategy unfreezes the head for every strategy
