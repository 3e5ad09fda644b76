"""Injecting a peft method (LoRA, (IA)^3) into the blocks of a timm ViT, in place."""
from __future__ import annotations

from torch import nn

from ._qkv import split_qkv
from ._vit import needs_qkv_split, vit_blocks


def inject_peft(backbone: nn.Module, strategy: str, targets, config, markers: tuple[str, ...]) -> list[nn.Parameter]:
    """Split the fused qkv if ``targets`` names q, k or v, inject ``config`` (a peft config) with
    ``peft.inject_adapter_in_model`` — the module tree stays timm's, no PeftModel wrapper — and return
    the new parameters, recognised by one of ``markers`` in their names (e.g. ".lora_A.")."""
    from peft import inject_adapter_in_model  # imported on use: peft is slow to import

    blocks = vit_blocks(backbone, strategy)
    if needs_qkv_split(targets):
        split_qkv(blocks)
    inject_adapter_in_model(config, backbone)
    return [p for name, p in backbone.named_parameters() if any(m in name for m in markers)]
