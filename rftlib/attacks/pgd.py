"""PGD: projected gradient descent, untargeted, in the L-infinity or the L2 ball.

Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep Learning Models Resistant to Adversarial
Attacks", ICLR 2018 (https://arxiv.org/abs/1706.06083). L-infinity takes signed-gradient steps; L2
takes steps along the L2-normalised gradient, its random start and its projection (radial rescaling,
then the [0, 1] clamp) as torchattacks' PGDL2, whose iterates it reproduces.

Defaults are the study's (see STUDY.md, "Continuous evaluation"): eps 1/255, step 0.25/255, 15 steps,
uniform random start in the eps ball, cross-entropy, in [0, 1] pixel space (the model normalises inside
its forward), model in eval mode.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError
from rftlib.attacks.base import (_describe, autocast_for_dtype, check_autocast, check_images, check_labels, frozen_eval, random_like,
                   uniform_noise)
from rftlib.attacks.norms import DEFAULT_NORM, check_radius
from rftlib.attacks.projections import l2_norms, project_l2
from rftlib.attacks.settings import PGD_NORMS, PGDSettings, adopt  # noqa: F401  PGD_NORMS re-exported

__all__ = ["PGD", "_describe", "frozen_eval"]  # trades.py and the bench take these from here



class PGD:
    """Untargeted PGD with cross-entropy loss on [0, 1] images, L-infinity or L2 (Madry et al., 2018).

    Arguments:
        model: maps images in [0, 1] of shape (N, C, H, W) to logits (N, classes); normalisation is
            the model's job. It is left exactly as found: train/eval mode of every submodule,
            ``requires_grad`` of every parameter, and every parameter's ``.grad``.
        eps: radius of the ball in the norm's units (L-infinity: pixel units, 1/255 = one grey level).
        alpha: step size: each step moves alpha in the norm (the signed gradient times alpha for
            L-infinity, the gradient scaled to L2 length alpha for L2).
        steps: number of steps.
        random_start: start from a random point of the eps ball instead of the image (L-infinity:
            uniform in the cube; L2: torchattacks' start, a Gaussian direction at a uniform radius).
        early_stop: a different, stronger measure. Off (the reference behaviour), the result is the
            last iterate. On, a sample is dropped as soon as an iterate fools the model and that
            iterate is returned, so an image counts as broken if *any* iterate broke it (the "union
            over iterates" of AutoAttack). It also saves the work on broken samples, but robust
            accuracies measured with it are lower and not comparable with the paper's.
        autocast_dtype: None (full precision) or torch.bfloat16 / torch.float16: the forward and
            backward passes run under ``torch.autocast``; the step, the projection and the
            clamping stay in the images' dtype.
        norm: "Linf" (the paper's) or "L2".

    Examples::

        >>> attack = PGD(model)                      # the study's settings
        >>> adv = attack(images, labels, generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, model: nn.Module, *, autocast_dtype: torch.dtype | None = None, **settings):
        # eps, alpha, steps, random_start, early_stop, norm: defaults and checks in PGDSettings (torch-free,
        # so configurations are checked by the same code before torch loads).
        if not isinstance(model, nn.Module):
            raise RftError(f"PGD model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        adopt(self, PGDSettings(**settings))
        self.autocast_dtype = check_autocast(autocast_dtype, "PGD")

    def __repr__(self) -> str:
        return (
            f"PGD(eps={self.eps:.6g}, alpha={self.alpha:.6g}, steps={self.steps}, "
            f"random_start={self.random_start}, early_stop={self.early_stop}, autocast_dtype={self.autocast_dtype}"
            + (f", norm={self.norm!r})" if self.norm != DEFAULT_NORM else ")")
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
        if images.dim() > 1:  # the radius against this input's size (above sqrt(d) the L2 ball holds the box)
            check_radius(self.eps, self.norm, "PGD", math.prod(images.shape[1:]))

    # What a variant of PGD overrides (TRADES' KL attack, attacks/trades.py): _check_labels, _start and
    # _loss. The loop, the projection and the mode handling stay here, once.
    def _check_labels(self, images: torch.Tensor, labels: object) -> None:
        check_labels(images, labels, "PGD")

    def _start(self, clean: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
               generator: torch.Generator | None) -> torch.Tensor:
        """The first iterate under ``random_start``: uniform in the eps ball, clamped to [0, 1]."""
        return uniform_noise(clean, self.eps, generator).add_(clean).clamp_(low, high)

    def _start_l2(self, clean: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """torchattacks PGDL2's start: a Gaussian direction at a radius uniform in [0, eps], clamped to
        [0, 1]; drawn in the same order (the normal noise, then the radii) so equal seeds give equal starts."""
        if generator is None:
            noise = torch.randn_like(clean)
        else:
            noise = torch.randn(clean.shape, dtype=clean.dtype, device=generator.device, generator=generator)
        noise = noise.to(clean.device)
        radii = random_like(l2_norms(noise), generator)
        return (clean + noise * (radii / l2_norms(noise) * self.eps)).clamp_(0, 1)

    def _step(self, adv: torch.Tensor, grad: torch.Tensor, ball: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """One ascent step from ``adv``, projected onto the ball ∩ [0, 1] (``ball``: (low, high) for
        L-infinity, (clean,) for L2)."""
        if self.norm == "L2":
            # torchattacks' arithmetic (1e-10 in the division, radial rescaling, then the clamp).
            return project_l2(ball[0], adv + self.alpha * (grad / (l2_norms(grad) + 1e-10)), self.eps)
        # adv + alpha * sign(grad), projected; built in the fresh sign() tensor, so one
        # allocation per step (the gradient itself may be an expanded view, unsafe to write into).
        return grad.sign().mul_(self.alpha).add_(adv).clamp_(*ball)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The summed loss each step ascends."""
        return F.cross_entropy(logits.float(), labels.long(), reduction="sum")

    def _autocast(self, device: torch.device):
        return autocast_for_dtype(device, self.autocast_dtype)

    def _run(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # An inference-mode tensor cannot take part in autograd; a plain alias is enough otherwise,
        # since nothing below writes into it.
        clean = images.detach().clone() if images.is_inference() else images.detach()
        if self.norm == "L2":
            ball = (clean,)
            adv = self._start_l2(clean, generator) if self.random_start else clean
        else:
            # The intersection of the eps ball with [0, 1], computed once: projecting onto it is a single
            # clamp per step instead of torchattacks' subtract / clamp / add / clamp.
            low = (clean - self.eps).clamp_(min=0)
            high = (clean + self.eps).clamp_(max=1)
            ball = (low, high)
            adv = self._start(clean, low, high, generator) if self.random_start else clean
        # (``clean`` is never written in place: each step builds a new tensor.)

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
            # only the gradient's sign (L-infinity) or direction (L2) is used. The mean would just scale it by 1/N (and, in low
            # precision, risk underflowing small components to 0).
            loss = self._loss(logits, labels)
            (grad,) = torch.autograd.grad(loss, adv)
            adv = adv.detach()
            stepped = self._step(adv, grad, ball)

            if self.early_stop:
                # ``logits`` were computed at ``adv``: samples it already fools keep ``adv`` and leave.
                fooled = logits.detach().argmax(dim=1) != labels
                if fooled.any():
                    result[active[fooled]] = adv[fooled]
                    kept = ~fooled
                    active, stepped, labels = active[kept], stepped[kept], labels[kept]
                    ball = tuple(t[kept] for t in ball)
                    if active.numel() == 0:
                        return result
            adv = stepped

        if self.early_stop:
            result[active] = adv
            return result
        return adv
