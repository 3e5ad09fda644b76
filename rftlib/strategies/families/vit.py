"""The ViT family: timm's ``VisionTransformer`` and its subclasses (ViT at every size, DeiT and DeiT
distilled, and the other models timm builds with that class).

Blocks: ``blocks[i]``, each ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``. The paper's layers
are these blocks' own: the fused ``attn.qkv`` (split into ``q``, ``k``, ``v`` before any of them is
adapted), the attention output ``attn.proj`` and the MLP's ``mlp.fc1``, ``mlp.fc2``. Adapters go
after ``attn.proj`` and after ``mlp.fc2``, before the block's residual (Houlsby et al. 2019).

A ``VisionTransformer`` built with other blocks (e.g. parallel blocks with a fused input
projection) fails the layout check with one line; full, linear_probe and bitfit still work on it.
"""
from __future__ import annotations

from torch import nn

from rftlib.strategies.families.base import Family, register_family

TRANSFORMER_ROLES = {
    "q": ("attn.qkv.q",),
    "k": ("attn.qkv.k",),
    "v": ("attn.qkv.v",),
    "proj": ("attn.proj",),
    "fc1": ("mlp.fc1",),
    "fc2": ("mlp.fc2",),
}
TRANSFORMER_ADAPTER_SITES = {"attn": "attn.proj", "mlp": "mlp.fc2"}


def blocks(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(f"blocks.{i}", block) for i, block in enumerate(backbone.blocks)]


VIT = register_family(Family(
    name="vit",
    classes=("VisionTransformer",),
    blocks=blocks,
    roles=lambda block: TRANSFORMER_ROLES,
    size_kwargs=("img_size", "patch_size"),
    fused_qkv="attn.qkv",
    adapter_sites=TRANSFORMER_ADAPTER_SITES,
    tiny=("vit_small_patch16_224", {"img_size": 32, "patch_size": 4, "depth": 2, "embed_dim": 64, "num_heads": 2}),
))
