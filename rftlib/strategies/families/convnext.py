"""The ConvNeXt family: timm's ``ConvNeXt`` (Liu et al. 2022).

Blocks: ``stages[i].blocks[j]``, each ``x + gamma * mlp(norm(conv_dw(x)))``: a 7x7 depthwise
convolution mixes space, then an MLP (``mlp.fc1``, ``mlp.fc2``; Linears on channels-last features,
1x1 convolutions in the ``conv_mlp`` variants) mixes channels.

- LoRA and (IA)^3: ``fc1`` and ``fc2`` are the MLP's two layers, as in a ViT. The attention roles
  (q, k, v, proj) have no layer: the depthwise convolution holds 49 weights per channel and no
  projection, and peft's LoRA cannot factor it (peft requires the rank to be divisible by the
  convolution's groups). So LoRA and (IA)^3 adapt fc1 and fc2 of every block.
- Adapters and Compacter: refused. Houlsby et al. (2019) and Karimi Mahabadi et al. (2021) place them
  after the attention output and the MLP of transformer blocks; no established placement exists for
  ConvNeXt blocks, and we do not guess one.
- The stem, the downsampling layers and the head's LayerNorm are outside the blocks.
"""
from __future__ import annotations

from rftlib.strategies.families.base import Family, register_family, staged_blocks

ROLES = {"fc1": ("mlp.fc1",), "fc2": ("mlp.fc2",)}

CONVNEXT = register_family(Family(
    name="convnext",
    classes=("ConvNeXt",),
    blocks=staged_blocks("stages"),
    roles=lambda block: ROLES,
    adapter_refusal="ConvNeXt blocks have no attention and bottleneck adapters no established placement in them",
    tiny=("convnext_tiny", {"depths": (1, 1, 1, 1), "dims": (16, 16, 32, 32)}),
))
