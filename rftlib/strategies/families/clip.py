"""The CLIP family: open_clip's own ``VisionTransformer`` image tower (``model: open_clip:ViT-B-16``),
inside rftlib's ``ClipImageClassifier`` (``rftlib.models.clip``).

Blocks: ``visual.transformer.resblocks[i]``, each ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))`` with
``mlp = c_fc, GELU (QuickGELU for OpenAI's weights), c_proj``. Its attention is torch's
``nn.MultiheadAttention``, which peft cannot enter (peft issue #761); rftlib builds these models with
``ClipAttention`` instead (``rftlib.models.clip_attention``): the same function and tensors, with the
fused ``in_proj`` (rows [q | k | v]) and ``out_proj`` as Linear modules. So the roles are a timm ViT's:

- q, k, v: ``attn.in_proj`` split into ``q``, ``k``, ``v`` before any of them is adapted (LoRA: one rank-r
  update each; (IA)³: k and v scaled, not q);
- proj: ``attn.out_proj``; fc1, fc2: ``mlp.c_fc``, ``mlp.c_proj``;
- adapters and Compacter after ``attn.out_proj`` and after ``mlp.c_proj``, before the block's residual.

BitFit trains the biases of in_proj, out_proj, c_fc, c_proj and of every LayerNorm (``ln_pre``, ``ln_1``,
``ln_2``, ``ln_post``); the patch embedding ``conv1`` and the projection ``proj`` have none. The class
embedding, position embedding and ``proj`` train only under full fine-tuning. An open_clip image tower of
another kind (ModifiedResNet, a timm trunk, custom attention blocks) fails the layout check with one
line; full, linear_probe and bitfit still work on it.
"""
from __future__ import annotations

from torch import nn

from rftlib.core.errors import RftError
from rftlib.strategies.families.base import Family, register_family

ROLES = {
    "q": ("attn.in_proj.q",),
    "k": ("attn.in_proj.k",),
    "v": ("attn.in_proj.v",),
    "proj": ("attn.out_proj",),
    "fc1": ("mlp.c_fc",),
    "fc2": ("mlp.c_proj",),
}
ADAPTER_SITES = {"attn": "attn.out_proj", "mlp": "mlp.c_proj"}


def blocks(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    from rftlib.models.clip_attention import ClipAttention

    resblocks = getattr(getattr(backbone.visual, "transformer", None), "resblocks", None)
    if not resblocks or not all(isinstance(getattr(b, "attn", None), ClipAttention) for b in resblocks):
        raise RftError(f"the clip family's strategies need open_clip's VisionTransformer with multi-head attention "
                       f"blocks; this image tower is a {type(backbone.visual).__name__} of another layout "
                       f"(full, linear_probe and bitfit work on it)")
    return [(f"visual.transformer.resblocks.{i}", block) for i, block in enumerate(resblocks)]


CLIP = register_family(Family(
    name="clip",
    classes=("ClipImageClassifier",),
    blocks=blocks,
    roles=lambda block: ROLES,
    size_kwargs=("img_size",),
    fused_qkv="attn.in_proj",
    adapter_sites=ADAPTER_SITES,
    tiny=("open_clip:RFT-Tiny-CLIP", {}),
))
