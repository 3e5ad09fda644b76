"""Injecting a peft method (LoRA, (IA)^3) into the layers that play the chosen roles, in place."""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

from rftlib.strategies._qkv import split_qkv
from rftlib.strategies.families import Family, needs_split, require_family, role_layers


def inject_peft(backbone: nn.Module, strategy: str, targets, make_config: Callable[[list[str], Family], object],
                markers: tuple[str, ...], check: Callable[[str, nn.Module], None] | None = None) -> list[nn.Parameter]:
    """Find the layers of every block that play the roles ``targets`` in the backbone's family (all
    checked first), split the fused qkv if one of them lies inside it, inject the peft config
    ``make_config(layer names, family)`` with ``peft.inject_adapter_in_model`` — the module tree stays
    timm's, no PeftModel wrapper — and return the new parameters, recognised by one of ``markers`` in
    their names (e.g. ".lora_A."). ``check(name, layer)`` may refuse a layer before anything changes."""
    from peft import inject_adapter_in_model  # imported on use: peft is slow to import

    family = require_family(backbone, strategy)
    names = role_layers(backbone, family, targets, strategy, check)
    if needs_split(family, names):
        split_qkv([block for _, block in family.blocks(backbone)], family.fused_qkv)
    inject_adapter_in_model(make_config(names, family), backbone)
    return [p for name, p in backbone.named_parameters() if any(m in name for m in markers)]
