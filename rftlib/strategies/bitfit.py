"""BitFit (Ben Zaken et al. 2022): train every bias term and nothing else (besides the head).

In a timm ViT these are the biases of the patch embedding, of each block's qkv, attention output
projection, fc1, fc2 and both LayerNorms, and of the final norm. They are found as the ``bias``
Parameter of every module, so the rule holds for any timm model, not only ViTs.
"""
from __future__ import annotations

from torch import nn

from rftlib.strategies.config import NoOptions


def apply(backbone: nn.Module, options: NoOptions) -> list[nn.Parameter]:
    return [m.bias for m in backbone.modules() if isinstance(getattr(m, "bias", None), nn.Parameter)]
