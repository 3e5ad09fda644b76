"""PGD: projected gradient descent, L-infinity, untargeted.

Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep Learning Models Resistant to Adversarial
Attacks", ICLR 2018 (https://arxiv.org/abs/1706.06083).

Defaults are the study's (see STUDY.md, "Continuous evaluation"): eps 1/255, step 0.25/255, 15 steps,
uniform random start in the eps ball, cross-entropy, in [0, 1] pixel space (the model normalises inside
its forward), model in eval mode.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import RftError
from .base import (_describe, autocast_for_dtype, check_autocast, check_count, check_eps, check_images, check_labels,
                   frozen_eval, positive_number, uniform_noise)

__all__ = ["PGD", "_describe", "frozen_eval"]  # trades.py and the bench take these from here



class PGD:
    """L-infinity untargeted PGD with cross-entropy loss on [0, 1] images (Madry et al., 2018).

    Arguments:
        model: maps images in [0, 1] of shape (N, C, H, W) to logits (N, classes); normalisation is
            the model's job. It is left exactly as found: train/eval mode of every submodule,
            ``requires_grad`` of every parameter, and every parameter's ``.grad``.
        eps: radius of the L-infinity ball, in pixel units (1/255 = one grey level).
        alpha: step size of each signed-gradient step.
        steps: number of steps.
        random_start: start from a uniformly random point of the eps ball instead of the image.
        early_stop: a different, stronger measure. Off (the reference behaviour), the result is the
            last iterate. On, a sample is dropped as soon as an iterate fools the model and that
            iterate is returned, so an image counts as broken if *any* iterate broke it (the "union
            over iterates" of AutoAttack). It also saves the work on broken samples, but robust
            accuracies measured with it are lower and not comparable with the paper's.
        autocast_dtype: None (full precision) or torch.bfloat16 / torch.float16: the forward and
            backward passes run under ``torch.autocast``; the step, the projection and the
            clamping stay in the images' dtype.

    Examples::

        >>> attack = PGD(model)                      # the study's settings
        >>> adv = attack(images, labels, generator=torch.Generator().manual_seed(0))
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 1 / 255,
        alpha: float = 0.25 / 255,
        steps: int = 15,
        random_start: bool = True,
        early_stop: bool = False,
        autocast_dtype: torch.dtype | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise RftError(f"PGD model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.eps = check_eps(eps, "PGD")
        self.alpha = positive_number(alpha, "alpha", "PGD")
        self.steps = check_count(steps, "steps", "PGD")
        for name, flag in (("random_start", random_start), ("early_stop", early_stop)):
            if not isinstance(flag, bool):
                raise RftError(f"PGD {name} must be true or false, got {flag!r}")
        self.random_start = random_start
        self.early_stop = early_stop
        self.autocast_dtype = check_autocast(autocast_dtype, "PGD")

    def __repr__(self) -> str:
        return (
            f"PGD(eps={self.eps:.6g}, alpha={self.alpha:.6g}, steps={self.steps}, "
            f"random_start={self.random_start}, early_stop={self.early_stop}, autocast_dtype={self.autocast_dtype})"
        )

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.attack(images, labels, generator=generator)

    def attack(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Adversarial versions of ``images`` (same shape, dtype and device), within the eps ball and [0, 1].

        ``generator`` drives the random start, so a caller can make the attack deterministic without
        touching the global RNG; it may live on another device than the images (the noise is then
        drawn there and moved). Without it the global RNG of the images' device is used.
        """
        self._check_inputs(images, labels)
        if images.shape[0] == 0:
            return images.detach().clone()
        labels = labels.to(images.device)
        if torch.is_inference_mode_enabled():
            raise RftError("PGD needs gradients: call it outside torch.inference_mode()")
        # Evaluation loops usually run under no_grad; the attack needs the input gradient regardless.
        with frozen_eval(self.model), torch.enable_grad():
            return self._run(images, labels, generator)

    def _check_inputs(self, images: object, labels: object) -> None:
        check_images(images, "PGD")
        self._check_labels(images, labels)

    # What a variant of PGD overrides (TRADES' KL attack, attacks/trades.py): _check_labels, _start and
    # _loss. The loop, the projection and the mode handling stay here, once.
    def _check_labels(self, images: torch.Tensor, labels: object) -> None:
        check_labels(images, labels, "PGD")

    def _start(self, clean: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
               generator: torch.Generator | None) -> torch.Tensor:
        """The first iterate under ``random_start``: uniform in the eps ball, clamped to [0, 1]."""
        return uniform_noise(clean, self.eps, generator).add_(clean).clamp_(low, high)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The summed loss each step ascends."""
        return F.cross_entropy(logits.float(), labels.long(), reduction="sum")

    def _autocast(self, device: torch.device):
        return autocast_for_dtype(device, self.autocast_dtype)

    def _run(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # An inference-mode tensor cannot take part in autograd; a plain alias is enough otherwise,
        # since nothing below writes into it.
        clean = images.detach().clone() if images.is_inference() else images.detach()
        # The intersection of the eps ball with [0, 1], computed once: projecting onto it is a single
        # clamp per step instead of torchattacks' subtract / clamp / add / clamp.
        low = (clean - self.eps).clamp_(min=0)
        high = (clean + self.eps).clamp_(max=1)

        if self.random_start:
            adv = self._start(clean, low, high, generator)
        else:
            adv = clean  # never written in place: each step builds a new tensor

        autocast = self._autocast(images.device)
        # early_stop bookkeeping: positions in the batch still attacked, and where finished ones go.
        active = torch.arange(images.shape[0], device=images.device) if self.early_stop else None
        result = torch.empty_like(clean) if self.early_stop else None

        for _ in range(self.steps):
            adv = adv.detach().requires_grad_(True)
            with autocast:
                logits = self.model(adv)
            # Sum, not mean: every sample's loss depends on its own image only (eval mode), so its
            # gradient is independent of the batch size and of which samples share the batch, and
            # only the gradient's sign is used. The mean would just scale it by 1/N (and, in low
            # precision, risk underflowing small components to 0).
            loss = self._loss(logits, labels)
            (grad,) = torch.autograd.grad(loss, adv)
            adv = adv.detach()
            # adv + alpha * sign(grad), projected; built in the fresh sign() tensor, so one
            # allocation per step (the gradient itself may be an expanded view, unsafe to write into).
            stepped = grad.sign().mul_(self.alpha).add_(adv).clamp_(low, high)

            if self.early_stop:
                # ``logits`` were computed at ``adv``: samples it already fools keep ``adv`` and leave.
                fooled = logits.detach().argmax(dim=1) != labels
                if fooled.any():
                    result[active[fooled]] = adv[fooled]
                    kept = ~fooled
                    active, stepped, low, high, labels = (t[kept] for t in (active, stepped, low, high, labels))
                    if active.numel() == 0:
                        return result
            adv = stepped

        if self.early_stop:
            result[active] = adv
            return result
        return adv
