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

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ._base import PEFT_DEFAULTS, register
from ._bottleneck import ACTIVATIONS, Bottleneck, bottleneck_width, check_positions, check_width, insert_adapters


@dataclass(frozen=True)
class AdapterOptions:
    """Houlsby adapter hyperparameters (defaults: the paper's).

    Attributes:
        reduction_factor: bottleneck width = hidden width // reduction_factor (768 // 8 = 96).
        bottleneck: an explicit bottleneck width, overriding reduction_factor.
        activation: non-linearity between down and up: gelu, relu, silu or tanh.
        init_std: standard deviation of the normal initialisation of both weight matrices.
        positions: where to insert: "attn" (after attn.proj) and/or "mlp" (after mlp.fc2).
    """

    reduction_factor: int = 8
    bottleneck: int | None = None
    activation: Literal["gelu", "relu", "silu", "tanh"] = "gelu"
    init_std: float = 0.02
    positions: tuple[str, ...] = ("attn", "mlp")

    def __post_init__(self):
        check_width(self.reduction_factor, "reduction_factor", "adapter")
        check_width(self.bottleneck, "bottleneck", "adapter")
        check_positions(self.positions, "adapter")


def houlsby_adapter(width: int, bottleneck: int, options: AdapterOptions, **factory) -> Bottleneck:
    """One residual bottleneck ``width -> bottleneck -> width`` with Linear layers."""
    down = nn.Linear(width, bottleneck, **factory)
    up = nn.Linear(bottleneck, width, **factory)
    with torch.no_grad():
        for layer in (down, up):
            layer.weight.normal_(0.0, options.init_std)
            layer.bias.zero_()
    return Bottleneck(down, ACTIVATIONS[options.activation](), up)


@register("adapter", options=AdapterOptions, defaults=PEFT_DEFAULTS, summary="Houlsby bottleneck adapters after attention and MLP")
def apply(backbone: nn.Module, options: AdapterOptions) -> list[nn.Parameter]:
    def make(linear: nn.Linear) -> Bottleneck:
        width = linear.out_features
        bottleneck = bottleneck_width(width, options.reduction_factor, options.bottleneck)
        return houlsby_adapter(width, bottleneck, options, device=linear.weight.device, dtype=linear.weight.dtype)

    adapters = insert_adapters(backbone, "adapter", options.positions, make)
    return [p for adapter in adapters for p in adapter.parameters()]
