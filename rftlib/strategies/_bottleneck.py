"""Shared parts of the two bottleneck-adapter strategies (Houlsby adapters and Compacter).

Both insert, in every block, a residual bottleneck ``h + up(act(down(h)))`` on the output ``h`` of
the attention output projection (``attn.proj``) and of the second MLP linear (``mlp.fc2``), before the
block adds its own residual (Houlsby et al. 2019, Fig. 2; Karimi Mahabadi et al. 2021 use the same
placement); each family says where these layers are (:mod:`rftlib.strategies.families`). They
differ only in the ``down``/``up`` layers: Linears for Houlsby, PHM layers for Compacter. In the
paper's AdapterHub model the adapter follows the sub-layer's dropout; dropout is 0 in the study, so
placing it right after the linear is the same computation.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError
from rftlib.strategies.families import adapter_sites, require_family
from rftlib.strategies.roles import check_positions, check_width  # noqa: F401  re-exported: the adapters' option checks

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,  # exact (erf) GELU, as transformers' "gelu" that AdapterHub uses
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


class Bottleneck(nn.Module):
    """Residual bottleneck ``forward(h) = h + up(act(down(h)))``."""

    def __init__(self, down: nn.Module, act: nn.Module, up: nn.Module):
        super().__init__()
        self.down, self.act, self.up = down, act, up

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.act(self.down(h)))


class AdaptedLinear(nn.Module):
    """A Linear followed by an adapter: ``forward(x) = adapter(x W^T + b)``.

    It takes over the Linear's own ``weight`` and ``bias`` Parameters (same objects, same names), so
    the pretrained tensors keep their state-dict keys (``blocks.0.attn.proj.weight``) and only
    ``...proj.adapter.*`` keys are new.
    """

    def __init__(self, linear: nn.Linear, adapter: nn.Module):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(F.linear(x, self.weight, self.bias))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def bottleneck_width(hidden: int, reduction_factor: int, bottleneck: int | None, multiple_of: int = 1) -> int:
    """The bottleneck width: ``bottleneck`` when given, else ``hidden // reduction_factor`` (AdapterHub's
    rule: 768 / 8 = 96, 768 / 32 = 24) rounded up to a multiple of ``multiple_of`` (a PHM layer needs
    widths divisible by its n; ViT-B's 24 is unchanged, a 64-wide test ViT gets 4 instead of 2)."""
    if bottleneck is not None:
        return bottleneck
    width = max(1, hidden // reduction_factor)
    return -(-width // multiple_of) * multiple_of


def insert_adapters(
    backbone: nn.Module, strategy: str, positions: tuple[str, ...], make_adapter: Callable[[nn.Linear], nn.Module]
) -> list[nn.Module]:
    """Wrap the Linear at each position of every block (where the backbone's family puts it) in an
    :class:`AdaptedLinear` whose adapter is ``make_adapter(linear)``; return the adapters in block
    order. Every site is checked before anything changes."""
    sites = adapter_sites(backbone, require_family(backbone, strategy, adapters=True), positions)
    adapters = []
    for block, path in sites:
        parent_path, _, name = path.rpartition(".")
        parent = block.get_submodule(parent_path)
        linear = getattr(parent, name)
        if not isinstance(linear, nn.Linear):
            raise RftError(f"cannot add an adapter after {path}: not a Linear ({type(linear).__name__})")
        adapter = make_adapter(linear)
        setattr(parent, name, AdaptedLinear(linear, adapter))
        adapters.append(adapter)
    return adapters
