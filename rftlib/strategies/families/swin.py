"""The Swin family: timm's ``SwinTransformer`` (v1; Liu et al. 2021).

Blocks: ``layers[i].blocks[j]``, windowed (and shifted-window) attention in stages joined by patch
merging. A Swin block has the ViT block's layout (``attn.qkv`` fused, ``attn.proj``, ``mlp.fc1``,
``mlp.fc2``), so the roles and adapter sites are the ViT family's, in every block of every stage.
The patch-merging reductions between stages are not in any block: only full and bitfit train them
(they have no bias, so bitfit leaves them too).

SwinTransformerV2 is not in this family: its attention adds separate q and v biases to the fused
projection inside its forward, which splitting ``qkv`` would bypass.
"""
from __future__ import annotations

from torch import nn

from . import Family, register_family
from .vit import TRANSFORMER_ADAPTER_SITES, TRANSFORMER_ROLES


def blocks(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(f"layers.{i}.blocks.{j}", block)
            for i, stage in enumerate(backbone.layers) for j, block in enumerate(stage.blocks)]


SWIN = register_family(Family(
    name="swin",
    classes=("SwinTransformer",),
    blocks=blocks,
    roles=lambda block: TRANSFORMER_ROLES,
    size_kwargs=("img_size", "patch_size"),
    fused_qkv="attn.qkv",
    adapter_sites=TRANSFORMER_ADAPTER_SITES,
    tiny=("swin_tiny_patch4_window7_224",
          {"img_size": 32, "patch_size": 2, "window_size": 4, "embed_dim": 32, "depths": (1, 1), "num_heads": (2, 2)}),
))
