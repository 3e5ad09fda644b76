"""θ_α = (1 − α)·θ_start + α·θ_end for every strategy and family, on the weights the model computes with
(WiSE-FT, Wortsman et al., CVPR 2022, eq. 1).

The start and end models differ only in their trainable state (``rftlib.training.checkpoint.
trainable_state``: the trainable parameters and the statistics of the BatchNorms that train); every
frozen weight is the pretrained one in both, where any interpolation is the identity. So θ_α is formed
on the trainable state, tensor by tensor, except where a strategy's parameters are not linear in the
weights the model computes with:

- **LoRA** (peft): the effective weight is W0 + s·B·A, bilinear in the factors; interpolating A and B
  separately would give W0 + s·((1−α)B0 + αB1)((1−α)A0 + αA1), quadratic in α. θ_α must be the merged
  update W0 + α·ΔW (ΔW = s·B1·A1, the start's B0 being zero: peft initialises B to zeros). We keep the
  fine-tuned A1 and scale B: B_α = α·B1, so B_α·A1 = α·ΔW exactly in exact arithmetic, the module tree
  stays the run's, and α = 0 and α = 1 give the start's and the end's outputs bit for bit (an
  update of exactly zero, and the end's own factors). A start with a non-zero B is refused.
- **(IA)³** scales the outputs of a frozen W: the effective weight diag(l)·W is linear in l, so the
  plain interpolation of l (from its initial 1) is the interpolation of the merged weights.
- **Adapters, Compacter** are non-linear modules with no merged form: their parameters are interpolated
  from their initial values, as the issue asks (at α = 0 they are the start's adapters).
- **Full, BitFit, the head, BatchNorm statistics**: plain interpolation. Integer buffers (BatchNorm's
  ``num_batches_tracked``) are copied from the end model, not interpolated.

``(1 − α)·a + α·b`` is computed in each tensor's dtype, which returns ``a`` exactly at α = 0 and ``b``
exactly at α = 1 (``torch.lerp``'s ``a + α(b − a)`` need not).
"""
from __future__ import annotations

import torch
from torch import nn

from rftlib.core.errors import RftError


def lora_factor_names(model: nn.Module) -> dict[str, str]:
    """For every peft LoRA layer of ``model``: the parameter name of its B factor -> that of its A."""
    from peft.tuners.lora import LoraLayer

    pairs = {}
    for prefix, module in model.named_modules():
        if isinstance(module, LoraLayer):
            for adapter in module.lora_B:
                pairs[f"{prefix}.lora_B.{adapter}.weight"] = f"{prefix}.lora_A.{adapter}.weight"
    return pairs


def interpolate_states(model: nn.Module, start: dict[str, torch.Tensor], end: dict[str, torch.Tensor],
                       alpha: float) -> dict[str, torch.Tensor]:
    """The trainable state of θ_α for ``model``'s strategy, from the start and end trainable states
    (see the module docstring)."""
    if set(start) != set(end):
        raise RftError(f"start and end models differ in their trainable tensors: "
                       f"{sorted(set(start) ^ set(end))[:3]}")
    if not 0.0 <= alpha <= 1.0:
        raise RftError(f"alpha must be in [0, 1], got {alpha}")
    lora_b = lora_factor_names(model)
    state = {}
    for name, first in start.items():
        last = end[name]
        if not torch.is_floating_point(last):
            state[name] = last.clone()  # num_batches_tracked and other counters
        elif name in lora_b:
            if torch.count_nonzero(first):
                raise RftError(f"WiSE-FT interpolates LoRA's merged update from a zero start; {name} is not zero "
                               f"at the start")
            state[name] = alpha * last  # with A_end below: W0 + alpha * ΔW
        elif name in lora_b.values():
            state[name] = last.clone()
        else:
            state[name] = (1.0 - alpha) * first + alpha * last
    return state


def merged_lora_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The effective (merged) weight W0 + ΔW of every peft LoRA layer, by the layer's name: what the
    layer computes with, for checking θ_α = W0 + α·ΔW."""
    from peft.tuners.lora import LoraLayer

    merged = {}
    with torch.no_grad():
        for prefix, module in model.named_modules():
            if isinstance(module, LoraLayer):
                weight = module.get_base_layer().weight.detach().clone()
                for adapter in module.lora_B:
                    weight += module.get_delta_weight(adapter)
                merged[prefix] = weight
    return merged


__all__ = ["interpolate_states", "lora_factor_names", "merged_lora_weights"]
