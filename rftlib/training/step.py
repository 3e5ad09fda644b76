"""One optimiser step, shared by the training loop and the benchmark so both time the same thing."""
from __future__ import annotations

from collections.abc import Callable

import torch

from rftlib.training.objectives import Objective, Standard

_STANDARD = Standard()


def training_step(forward: Callable[[torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer,
                  images: torch.Tensor, labels: torch.Tensor, *, precision: str = "fp32",
                  grad_clip: float | None = 1.0, check_finite: bool = True, objective: Objective | None = None,
                  step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (under bf16 autocast for precision "bf16"), cross-entropy in fp32, backward, gradient
    clipping over the optimiser's parameters, AdamW step. Returns (loss, logits).

    ``objective`` (rftlib.training.objectives; default: standard) replaces the forward and the loss,
    e.g. with a training attack first; ``step`` (the global step) seeds that attack's random start.

    With ``check_finite`` a NaN or infinite loss skips the update (the caller reports it); that check
    reads the loss on the host, one device sync, which the benchmark turns off.
    """
    loss, logits = (objective or _STANDARD)(forward, images, labels, step=step, precision=precision)
    if check_finite and not torch.isfinite(loss):
        return loss, logits
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
    optimizer.step()
    return loss, logits
