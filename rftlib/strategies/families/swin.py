"""The Swin family: timm's ``SwinTransformer`` (v1; Liu et al. 2021).

Blocks: ``layers[i].blocks[j]``, windowed (and shifted-window) attention in stages joined by patch
merging. A Swin block has the ViT block's layout (``attn.qkv`` fused, ``attn.proj``, ``mlp.fc1``,
``mlp.fc2``), so the roles and adapter sites are the ViT family's, in every block of every stage.
The patch-merging reductions between stages are not in any block, and have no bias: only full
fine-tuning trains them. BitFit trains the Linear and LayerNorm biases; the relative-position bias
tables are learned position embeddings, not a layer's bias term, and stay frozen like a ViT's
position embedding.

SwinTransformerV2 is not in this family: its attention reads the fused ``qkv.weight`` directly
(``F.linear`` with separate q, k, v biases), which splitting ``qkv`` would bypass.
"""
from __future__ import annotations

import dataclasses

from rftlib.strategies.families.base import register_family, staged_blocks
from rftlib.strategies.families.vit import VIT

# The ViT family's roles, adapter sites and size arguments, in every block of every stage.
SWIN = register_family(dataclasses.replace(
    VIT,
    name="swin",
    classes=("SwinTransformer",),
    blocks=staged_blocks("layers"),
    tiny=("swin_tiny_patch4_window7_224",
          {"img_size": 32, "patch_size": 2, "window_size": 4, "embed_dim": 32, "depths": (1, 1), "num_heads": (2, 2)}),
))
