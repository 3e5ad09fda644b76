"""LoRA (Hu et al. 2021) through peft: a low-rank update ``W + (alpha / r) B A`` on chosen linears.

Paper configuration: rank 8, alpha 8 (scale 1), dropout 0, on q, k and v *separately* and on fc1 and
fc2, in every block (other families: the layers playing these roles, see
:mod:`rftlib.strategies.families`; on CNNs the convolutions, through peft's Conv2d LoRA); A Kaiming-uniform, B zeros (peft's default initialisation), so the model is
unchanged at initialisation. timm's fused ``attn.qkv`` is first split into ``q``, ``k``, ``v``
(:mod:`rftlib.strategies._qkv`) so that each gets its own rank-8 update, as in the paper's HF ViT.
``peft.inject_adapter_in_model`` replaces the targeted Linears in place: the module tree stays
timm's, with no PeftModel wrapper.
"""
from __future__ import annotations

from torch import nn

from rftlib.core.errors import RftError
from rftlib.strategies._peft import inject_peft
from rftlib.strategies.config import LoraOptions  # the options (torch-free) and their registry entry
from rftlib.strategies.families import exact_regex


def apply(backbone: nn.Module, options: LoraOptions) -> list[nn.Parameter]:
    from peft import LoraConfig  # imported on use: peft is slow to import

    def config(names, family):
        return LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                          target_modules=exact_regex(names), bias="none")

    def check(name: str, layer: nn.Module) -> None:
        groups = getattr(layer, "groups", 1)
        if groups > 1 and options.r % groups:  # peft's own limit, raised mid-injection otherwise
            raise RftError(f"lora rank {options.r} cannot adapt the grouped convolution {name} (groups={groups}): "
                           f"peft needs the rank divisible by the groups; use r={groups} or other targets")

    return inject_peft(backbone, "lora", options.targets, config, markers=(".lora_A.", ".lora_B."), check=check)
