"""One optimiser step, shared by the training loop and the benchmark so both time the same thing."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..devices import autocast_for


def training_step(forward: Callable[[torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer,
                  images: torch.Tensor, labels: torch.Tensor, *, precision: str = "fp32",
                  grad_clip: float | None = 1.0, check_finite: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (under bf16 autocast for precision "bf16"), cross-entropy in fp32, backward, gradient
    clipping over the optimiser's parameters, AdamW step. Returns (loss, logits).

    With ``check_finite`` a NaN or infinite loss skips the update (the caller reports it); that check
    reads the loss on the host, one device sync, which the benchmark turns off.
    """
    with autocast_for(images.device, precision):
        logits = forward(images)
        loss = F.cross_entropy(logits.float(), labels)
    if check_finite and not torch.isfinite(loss):
        return loss, logits
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
    optimizer.step()
    return loss, logits
