"""Split timm's fused query/key/value projection so q, k and v can be adapted separately.

timm's ViT computes q, k and v with one Linear ``attn.qkv`` (dim -> 3 * dim) whose output rows are
[q | k | v]. The paper's LoRA adapts q, k and v *separately* (one rank-r update each, Hu et al. 2021)
and its (IA)^3 scales k and v but not q (Liu et al. 2022); a peft adapter on the fused ``qkv`` would
instead share one rank across the three, or scale q too. :class:`SplitQKV` replaces ``attn.qkv`` by
three Linears ``q``, ``k``, ``v`` holding copies of the three row blocks and concatenating their
outputs, so the attention module is unchanged and gives the same output, and peft can target
``attn.qkv.q``, ``attn.qkv.k``, ``attn.qkv.v`` by name.
"""
from __future__ import annotations

import torch
from torch import nn

from rftlib.core.errors import RftError


class SplitQKV(nn.Module):
    """Drop-in replacement for a fused qkv Linear: ``forward(x) = cat([q(x), k(x), v(x)], -1)``.

    Attributes:
        q, k, v: Linears (in_features -> out_features / 3) with the fused layer's row blocks.
    """

    def __init__(self, fused: nn.Linear):
        super().__init__()
        if fused.out_features % 3:
            raise RftError(f"a fused qkv Linear has 3 * d outputs, got {fused.out_features}")
        self.in_features, self.out_features = fused.in_features, fused.out_features
        width = fused.out_features // 3
        factory = {"device": fused.weight.device, "dtype": fused.weight.dtype}
        self.q, self.k, self.v = (
            nn.Linear(fused.in_features, width, bias=fused.bias is not None, **factory) for _ in range(3)
        )
        with torch.no_grad():
            for index, part in enumerate((self.q, self.k, self.v)):
                rows = slice(index * width, (index + 1) * width)
                part.weight.copy_(fused.weight[rows])
                if fused.bias is not None:
                    part.bias.copy_(fused.bias[rows])
        # keep the fused layer's trainability (the strategies re-set it anyway)
        for part in (self.q, self.k, self.v):
            part.requires_grad_(fused.weight.requires_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.q(x), self.k(x), self.v(x)), dim=-1)


def split_qkv(blocks: list[nn.Module], path: str = "attn.qkv") -> None:
    """Replace the fused qkv Linear at ``path`` in every block by a :class:`SplitQKV` (blocks already
    split are left)."""
    parent_path, _, name = path.rpartition(".")
    for block in blocks:
        parent = block.get_submodule(parent_path)
        if not isinstance(getattr(parent, name), SplitQKV):
            setattr(parent, name, SplitQKV(getattr(parent, name)))
