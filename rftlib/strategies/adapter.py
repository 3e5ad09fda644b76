"""Houlsby bottleneck adapters (Houlsby et al. 2019), as the paper configures them with AdapterHub.

Two adapters per transformer block (ViT, Swin), after the attention output projection and after fc2, each computing
``h + up(GELU(down(h)))`` before the block's residual (see :mod:`rftlib.strategies._bottleneck`).
Bottleneck width = hidden width / 8 (768 -> 96 for ViT-B). Weights are drawn from N(0, 0.02) and
biases set to 0, AdapterHub's default ("bert") initialisation; the adapter is therefore close to,
but not exactly, the identity at initialisation.

CNN families (ConvNeXt, ResNet) refuse this strategy with one line: see
:mod:`rftlib.strategies.families.resnet` for why Rebuffi et al.'s residual adapters are not it.
"""
from __future__ import annotations

import torch
from torch import nn

from rftlib.strategies._bottleneck import ACTIVATIONS, Bottleneck, bottleneck_width, insert_adapters
from rftlib.strategies.config import AdapterOptions  # the options (torch-free) and their registry entry


def houlsby_adapter(width: int, bottleneck: int, options: AdapterOptions, **factory) -> Bottleneck:
    """One residual bottleneck ``width -> bottleneck -> width`` with Linear layers."""
    down = nn.Linear(width, bottleneck, **factory)
    up = nn.Linear(bottleneck, width, **factory)
    with torch.no_grad():
        for layer in (down, up):
            layer.weight.normal_(0.0, options.init_std)
            layer.bias.zero_()
    return Bottleneck(down, ACTIVATIONS[options.activation](), up)


def apply(backbone: nn.Module, options: AdapterOptions) -> list[nn.Parameter]:
    def make(linear: nn.Linear) -> Bottleneck:
        width = linear.out_features
        bottleneck = bottleneck_width(width, options.reduction_factor, options.bottleneck)
        return houlsby_adapter(width, bottleneck, options, device=linear.weight.device, dtype=linear.weight.dtype)

    adapters = insert_adapters(backbone, "adapter", options.positions, make)
    return [p for adapter in adapters for p in adapter.parameters()]
