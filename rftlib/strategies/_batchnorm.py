"""Frozen BatchNorm layers keep their pretrained statistics while the rest of the model trains.

A BatchNorm in train mode normalises with the batch's statistics and overwrites its running ones,
even when its weight and bias are frozen; a ResNet fine-tuned with linear probing or LoRA would then
drift away from the pretrained function its frozen layers are meant to keep, and its "frozen" state
would change at every step. A BatchNorm none of whose parameters a strategy trains is therefore made
to run in eval mode whatever mode the model is in (the usual "frozen BN" of detection and
fine-tuning codebases). BatchNorms with a trainable parameter (full fine-tuning, BitFit's biases)
train as usual.
"""
from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _use_running_statistics(module: nn.Module, args) -> None:
    module.training = False  # a forward pre-hook: set before each call, whatever model.train() said


def freeze_batchnorm_statistics(model: nn.Module) -> int:
    """Make every BatchNorm of ``model`` with no trainable parameter use (and keep) its running
    statistics in train mode too; returns how many. A module-level hook: the model stays picklable."""
    frozen = 0
    for module in model.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats \
                and not any(p.requires_grad for p in module.parameters(recurse=False)):
            module.register_forward_pre_hook(_use_running_statistics)
            frozen += 1
    return frozen
