"""AdamW and the learning-rate schedules of the released code."""
from __future__ import annotations

import math

import torch
from torch import nn

# Modules whose weights are scales, not projections: like biases, they get no weight decay.
_NORM_TYPES = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.RMSNorm)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters split into a decayed group and one without decay (biases and norms),
    as in the released code. Shared parameters appear once."""
    no_decay_ids = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if name.endswith("bias") or isinstance(module, _NORM_TYPES):
                no_decay_ids.add(id(param))
    decay, no_decay = [], []
    for param in model.parameters():  # deduplicated, in a fixed order
        if param.requires_grad:
            (no_decay if id(param) in no_decay_ids else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def make_optimizer(model: nn.Module, *, lr: float, weight_decay: float, betas, eps: float) -> torch.optim.AdamW:
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, betas=tuple(betas), eps=eps)


def lr_factor(step: int, *, kind: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based): linear warm-up to 1,
    then cosine or linear decay to 0 at ``total_steps``, or constant. Matches transformers'
    ``get_{cosine,linear}_schedule_with_warmup``."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    if kind == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if kind == "linear":
        return 1.0 - progress
    raise ValueError(f"unknown lr schedule {kind!r}")


def make_scheduler(optimizer, *, kind: str, warmup_steps: int, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, kind=kind, warmup_steps=warmup_steps, total_steps=total_steps)
    )
