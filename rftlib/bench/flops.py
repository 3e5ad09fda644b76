"""FLOP counts of one attack step and one training step, with ``torch.utils.flop_counter``.

The counter counts what is executed: an attack step with frozen parameters is a forward pass plus a
backward pass to the input only (no weight-gradient matmuls, about 2x the forward), a training step
a forward plus a full backward (about 3x). Counts do not depend on the dtype, so they are taken once
in eager fp32 and shared by every precision and compile variant.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from rftlib.attacks.pgd import frozen_eval


def _cpu_flash(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_flash_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


# torch counts the CUDA attention kernels but not the CPU flash kernel timm's fused attention calls
# on CPU; without these the attention matmuls (about 5% of a ViT's FLOPs) would be missed there.
_CUSTOM = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_backward,
}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs executed by ``fn()`` (a multiply-add counts 2)."""
    counter = FlopCounterMode(display=False, custom_mapping=_CUSTOM)
    with counter:
        fn()
    return int(counter.get_total_flops())


def attack_step_flops(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> int:
    """FLOPs of one PGD step on the batch: forward, cross-entropy, gradient to the input only."""

    def step():
        leaf = images.detach().clone().requires_grad_(True)
        # FlopCounterMode's module tracker cannot follow autograd.grad() to a leaf (torch raises),
        # so the gradient is taken to a non-leaf copy: same ops, same count.
        adv = leaf * 1
        loss = F.cross_entropy(model(adv), labels, reduction="sum")
        torch.autograd.grad(loss, adv)

    with frozen_eval(model), torch.enable_grad():
        return count_flops(step)


def train_step_flops(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> int:
    """FLOPs of one training step's forward and backward (the optimiser's elementwise work is left
    out: it is memory-bound and a negligible count)."""

    def step():
        F.cross_entropy(model(images), labels).backward()

    flops = count_flops(step)
    model.zero_grad(set_to_none=True)
    return flops
