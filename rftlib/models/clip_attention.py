"""open_clip's ``nn.MultiheadAttention`` as an attention module whose projections are ``nn.Linear`` modules.

open_clip's VisionTransformer blocks attend with torch's ``nn.MultiheadAttention``, which keeps q, k and v
in one fused tensor (``in_proj_weight``, 3·d × d) and applies both it and ``out_proj`` through
``F.multi_head_attention_forward``, never calling the projection modules. So no module-level method can
enter it: peft's LoRA cannot target q, k or v (peft issue #761), an adapter wrapped around ``out_proj``
would never run, and BitFit, which finds the ``bias`` of every module, would miss ``in_proj_bias``.

:class:`ClipAttention` computes the same function with ``in_proj`` (a Linear d -> 3·d whose output rows
are [q | k | v], like timm's fused ``attn.qkv``) and ``out_proj`` called as modules. It takes over
the MultiheadAttention's own Parameter objects, so no tensor is copied and the pretrained weights stay
as loaded. The strategies then treat it as they treat timm's ViT: ``in_proj`` is split into q, k, v
(``rftlib.strategies._qkv``) when LoRA or (IA)³ adapts one of them, and adapters wrap ``out_proj``.
In training mode its output equals the MultiheadAttention's bit for bit; in eval mode torch's fused
fast path for MultiheadAttention rounds differently (~1e-6).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError


class ClipAttention(nn.Module):
    """Self-attention ``out_proj(softmax(q kᵀ / √d_h) v)`` with ``q, k, v = split(in_proj(x))``, called as
    ``nn.MultiheadAttention`` is by open_clip's blocks: ``attn(x, x, x, need_weights=False,
    attn_mask=mask) -> (output, None)``.

    Attributes:
        in_proj: Linear d -> 3·d (rows [q | k | v]); after a LoRA or (IA)³ strategy, a SplitQKV.
        out_proj: Linear d -> d.
        num_heads, batch_first: as the MultiheadAttention it replaces.
    """

    def __init__(self, attention: nn.MultiheadAttention):
        super().__init__()
        if not attention._qkv_same_embed_dim or attention.in_proj_weight is None:
            raise RftError("open_clip attention with separate q, k, v weights is not supported "
                           "(expected a fused in_proj)")
        if attention.bias_k is not None or attention.add_zero_attn or attention.dropout:
            raise RftError("open_clip attention with key biases, zero attention or dropout is not supported")
        self.num_heads, self.batch_first = attention.num_heads, attention.batch_first
        width = attention.embed_dim
        with torch.device("meta"):  # the modules' own tensors are replaced by the MultiheadAttention's
            self.in_proj = nn.Linear(width, 3 * width, bias=attention.in_proj_bias is not None)
            self.out_proj = nn.Linear(width, width, bias=attention.out_proj.bias is not None)
        self.in_proj.weight, self.in_proj.bias = attention.in_proj_weight, attention.in_proj_bias
        self.out_proj.weight, self.out_proj.bias = attention.out_proj.weight, attention.out_proj.bias

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                need_weights: bool = False, attn_mask: torch.Tensor | None = None):
        if (key is not None and key is not query) or (value is not None and value is not query):
            raise RftError("ClipAttention is self-attention only (an image tower's blocks)")
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            # MultiheadAttention masks where True, scaled_dot_product_attention keeps where True
            raise RftError("ClipAttention takes an additive float attn_mask, not a boolean one")
        x = query if self.batch_first else query.transpose(0, 1)
        batch, tokens, width = x.shape
        heads = self.num_heads
        q, k, v = self.in_proj(x).view(batch, tokens, 3, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = self.out_proj(out.transpose(1, 2).reshape(batch, tokens, width))
        return (out if self.batch_first else out.transpose(0, 1)), None


def convert_attention(blocks) -> int:
    """Replace the ``attn`` of every block whose attention is a MultiheadAttention by a ClipAttention;
    returns how many. Blocks with another attention (open_clip's custom blocks) are left as they are."""
    converted = 0
    for block in blocks:
        if isinstance(getattr(block, "attn", None), nn.MultiheadAttention):
            block.attn = ClipAttention(block.attn)
            converted += 1
    return converted


__all__ = ["ClipAttention", "convert_attention"]
