"""APGD and APGD-T: Auto-PGD, untargeted and targeted, in the L-infinity, L2 or L1 ball.

Croce and Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (https://arxiv.org/abs/2003.01690), Section 3.

What is the paper's: step size 2·eps, halved at checkpoints w_j = ceil(p_j · steps) with p_0 = 0,
p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) when (1) the loss rose in at most a
share rho = 0.75 of the steps since the last checkpoint, or (2) the step size was not halved at the
last checkpoint and the best loss has not improved since; after halving, the iterate restarts from
the best point. Momentum 0.75. Random start on the surface of the eps ball; restarts attack only the
points still robust. Losses: cross-entropy and DLR (Eq. 6), and for APGD-T the targeted DLR loss
against each of the ``targets`` classes ranked highest by the clean logits after the true one.

What follows the authors' code (``pyautoattack``, fra31/auto-attack) where the paper is silent or
differs, so that our flags agree with it: the random start is ``x + eps * u / max|u|`` with u
uniform in [-1, 1]; the halving test is "at most" (<=) rho·k rises; the momentum term uses the last
two iterates even after a restart from the best point; and at the first checkpoint the first
iterate's loss is compared with 0 instead of with the starting point's loss (the code reads a
not-yet-written row of its loss history there). Points the model already misclassifies are not
attacked.

Beyond the reference, for speed only (no iterate changes): parameters are frozen during the attack
(input gradients only), the clean logits are computed once (the reference recomputes them for every
target), and a sample leaves the batch as soon as an iterate fools the model (the reference keeps
computing it to the end of the run). Each sample's trajectory depends on that sample only (eval mode,
summed loss), so dropping others does not change it.

**L2** (the paper's second threat model): the same algorithm with steps along the L2-normalised
gradient, the start x + eps·g/||g||_2 with g Gaussian, and the projection (radial rescaling, then the
[0, 1] clamp) applied after the step and again after the momentum, as the authors' code does.

**L1** is l1-APGD: Croce and Hein, "Mind the box: l1-APGD for sparse adversarial attacks on image
classifiers", ICML 2021 (https://arxiv.org/abs/2103.01208). Each step moves eps·(step factor) along
the signs of the largest-magnitude share ``topk`` of the gradient's coordinates (the sparse step),
normalised in L1, then projects exactly onto the L1 ball ∩ [0, 1] (:func:`~rftlib.attacks.projections.
project_l1`); no momentum. Every 4% of the steps the sparsity adapts: where the best point became
sparser by 5% or more, the step factor returns to 1 and the iterate to the best point, elsewhere the
factor shrinks by 1.5 (down to 1/10); topk becomes the best point's density / 1.5. The start is
x + g + P(g) with g Gaussian and P the L1 projection. As in the authors' ``APGDAttack`` with one eps
(their ``use_largereps`` schedule, 3·eps then 2·eps then eps, which standard AutoAttack-L1 adds, is
available through the ``autoattack`` attack with ``norm: L1``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError
from rftlib.attacks.base import (AttackOutcome, OutcomeAttack, autocast_for_dtype, check_autocast, check_inputs, frozen_eval,
                   random_like)
from rftlib.attacks.norms import DEFAULT_NORM, check_radius
from rftlib.attacks.projections import l1_norms, l2_norms, l2_unit, project_l1
from rftlib.attacks.settings import LOSSES, APGDSettings, APGDTSettings, adopt  # noqa: F401  LOSSES re-exported

MOMENTUM = 0.75
# l1-APGD's sparsity schedule (the authors' code): first topk, checkpoint share, step decrease, smallest factor.
L1_TOPK, L1_CHECKPOINT, L1_DECREASE, L1_MIN_FACTOR = 0.2, 0.04, 1.5, 10.0


class APGD(OutcomeAttack):
    """Untargeted Auto-PGD in [0, 1] pixel space, L-infinity, L2 or L1 (Croce & Hein, ICML 2020 and 2021).

    Arguments:
        model: maps images in [0, 1] to logits; left exactly as found (see :mod:`rftlib.attacks.base`).
        eps: radius of the ball in the norm's units (default: the study's L-infinity 1/255).
        steps: iterations per run (the paper's 100).
        loss: "ce" (cross-entropy, APGD-CE) or "dlr" (difference of logits ratio, APGD-DLR).
        restarts: runs from fresh random starts; each restart attacks only the points still robust.
        rho: the checkpoints' oscillation threshold (the paper's 0.75).
        autocast_dtype: None, torch.bfloat16 or torch.float16: forward and backward under autocast;
            the losses, the step and the projection stay in float32.
        norm: "Linf" (default), "L2" or "L1" (l1-APGD, the sparse step; see the module docstring).

    ``run(images, labels, generator)`` returns an :class:`AttackOutcome`: per sample a point that
    fools the model if one was found (the clean image for points misclassified already), otherwise
    the point of highest loss, and the robust flag. ``attack(...)``, or calling the attack, returns
    the points only.

    Examples::

        >>> outcome = APGD(model, eps=4 / 255).run(images, labels, generator=torch.Generator().manual_seed(0))
        >>> outcome.robust.float().mean()        # robust accuracy
    """

    settings_class = APGDSettings
    name = settings_class.who
    targeted = settings_class.targeted

    def __init__(self, model: nn.Module, *, autocast_dtype: torch.dtype | None = None, **settings):
        # eps, steps, loss, restarts, rho, norm (APGD-T: targets): defaults and checks in the torch-free
        # settings_class, so configurations are checked by the same code before torch loads.
        if not isinstance(model, nn.Module):
            raise RftError(f"{self.name} model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.settings = self.settings_class(**settings)
        adopt(self, self.settings)
        self.autocast_dtype = check_autocast(autocast_dtype, self.name)
        # Checkpoint spacing of the paper: first after 22% of the steps, then 3% less each time, at least 6%.
        self.first_checkpoint = max(int(0.22 * self.steps), 1)
        self.min_checkpoint = max(int(0.06 * self.steps), 1)
        self.checkpoint_decrease = max(int(0.03 * self.steps), 1)
        if self.norm == "L1":  # one fixed spacing: the sparsity adapts at every checkpoint
            self.first_checkpoint = self.min_checkpoint = max(int(L1_CHECKPOINT * self.steps), 1)
            self.checkpoint_decrease = 0

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(eps={self.eps:.6g}, steps={self.steps}, loss={self.loss!r}, "
                f"restarts={self.restarts}{self._extra_repr()}, autocast_dtype={self.autocast_dtype}"
                + (f", norm={self.norm!r})" if self.norm != DEFAULT_NORM else ")"))

    def _extra_repr(self) -> str:
        return ""

    def check_classes(self, num_classes: int) -> None:
        """RftError if the loss (APGD-T: the targets) cannot be used with ``num_classes`` classes."""
        self.settings.check_classes(num_classes)

    def run(self, images: torch.Tensor, labels: torch.Tensor,
            generator: torch.Generator | None = None) -> AttackOutcome:
        """The best point found per sample and whether the model resisted every point tried.

        ``generator`` draws the random starts (it may live on another device than the images);
        without it the global RNG of the images' device does.
        """
        check_inputs(images, labels, self.name)
        if images.dim() > 1:
            check_radius(self.eps, self.norm, self.name, math.prod(images.shape[1:]))
        clean = images.detach().clone()  # a copy: also turns an inference-mode tensor into a normal one
        labels = labels.to(images.device).long()
        if clean.shape[0] == 0:
            return AttackOutcome(clean, torch.zeros(0, dtype=torch.bool, device=clean.device))
        with frozen_eval(self.model), torch.enable_grad():
            return self._attack(clean, labels, generator)

    # ----------------------------------------------------------------------------------------------
    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        with autocast_for_dtype(images.device, self.autocast_dtype):
            return self.model(images).float()

    def _targets(self, clean_logits: torch.Tensor) -> list[torch.Tensor | None]:
        return [None]

    def _attack(self, clean: torch.Tensor, labels: torch.Tensor, generator) -> AttackOutcome:
        with torch.no_grad():
            clean_logits = self._forward(clean)
        self.check_classes(clean_logits.shape[1])
        fooled = clean_logits.max(1)[1] != labels  # misclassified points count as fooled by the clean image
        adversarial = clean.clone()
        best_loss = torch.full(labels.shape, -torch.inf, device=clean.device)
        for target in self._targets(clean_logits):
            for _ in range(self.restarts):
                todo = (~fooled).nonzero().squeeze(1)
                if todo.numel() == 0:
                    break
                run_fooled, points, loss = self._single_run(
                    clean[todo], labels[todo], None if target is None else target[todo], generator)
                fooled[todo[run_fooled]] = True
                keep = run_fooled | (loss > best_loss[todo])
                adversarial[todo[keep]] = points[keep]
                best_loss[todo[keep]] = torch.where(run_fooled[keep], torch.inf, loss[keep])
        return AttackOutcome(adversarial, ~fooled)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Per-sample loss to maximise, written as in the reference code so the arithmetic matches."""
        if self.loss == "ce":
            return F.cross_entropy(logits, labels, reduction="none")
        rows = torch.arange(logits.shape[0], device=logits.device)
        ordered, order = logits.sort(dim=1)
        true = logits[rows, labels]
        top_is_true = (order[:, -1] == labels).float()
        # DLR (Eq. 6): margin to the best other class, scaled by the gap between the 1st and 3rd logits.
        return -(true - ordered[:, -2] * top_is_true - ordered[:, -1] * (1.0 - top_is_true)) / (
            ordered[:, -1] - ordered[:, -3] + 1e-12)

    def _loss_and_grad(self, points: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None):
        points = points.detach().requires_grad_(True)
        logits = self._forward(points)
        loss = self._loss(logits, labels, target)
        (grad,) = torch.autograd.grad(loss.sum(), points)
        return logits.detach(), loss.detach(), grad

    def _single_run(self, clean: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None, generator):
        """One run of APGD from a random start on a batch of points the model classifies correctly.

        Returns (fooled, points, best loss): per sample whether an iterate fooled the model, that
        first fooling iterate (or else the point of highest loss), and the highest loss reached.
        """
        n, eps, device = clean.shape[0], self.eps, clean.device
        shape = (-1,) + (1,) * (clean.dim() - 1)
        x_adv = self._start(clean, generator)
        logits, loss, grad = self._loss_and_grad(x_adv, labels, target)

        out_points = x_adv.clone()
        out_fooled = torch.zeros(n, dtype=torch.bool, device=device)
        out_loss = torch.full((n,), -torch.inf, device=device)
        # Every per-sample tensor of the run, so that samples can leave the batch together.
        s = dict(
            index=torch.arange(n, device=device),  # position in the run's batch
            clean=clean, labels=labels, target=target,
            low=(clean - eps).clamp(min=0), high=(clean + eps).clamp(max=1),
            x=x_adv, x_old=x_adv, grad=grad, x_best=x_adv.clone(), grad_best=grad.clone(), loss_best=loss.clone(),
            step=torch.full((n,), self._step_factor() * eps, device=device, dtype=clean.dtype).view(shape),
            loss_at_check=loss.clone(), halved_at_check=torch.ones(n, dtype=torch.bool, device=device),
            history=torch.zeros(n, self.steps, device=device),  # loss at iterate i + 1
        )
        if self.norm == "L1":  # the sparse step's share of coordinates, and the best point's last density
            s.update(topk=torch.full((n,), L1_TOPK, device=device),
                     density=torch.full((n,), float(math.prod(clean.shape[1:])), device=device))

        def drop_fooled(logits: torch.Tensor) -> None:
            """Record the samples the current iterate fools and remove them from the run."""
            fooled = logits.max(1)[1] != s["labels"]
            if not fooled.any():
                return
            where = s["index"][fooled]
            out_points[where] = s["x"][fooled]
            out_fooled[where] = True
            out_loss[where] = torch.inf
            kept = ~fooled
            s.update({key: value[kept] for key, value in s.items() if value is not None})

        drop_fooled(logits)
        since_check, window = 0, self.first_checkpoint
        for i in range(self.steps):
            if s["index"].numel() == 0:
                break
            with torch.no_grad():
                x = s["x"]
                s["x"] = self._step(s, i)
                s["x_old"] = x
            logits, loss, s["grad"] = self._loss_and_grad(s["x"], s["labels"], s["target"])
            with torch.no_grad():
                s["history"][:, i] = loss
                improved = loss > s["loss_best"]
                column = improved.view(shape)
                s["x_best"] = torch.where(column, s["x"], s["x_best"])
                s["grad_best"] = torch.where(column, s["grad"], s["grad_best"])
                s["loss_best"] = torch.where(improved, loss, s["loss_best"])
                drop_fooled(logits)  # before the checkpoint: a fooling iterate is kept as it was reached
                since_check += 1
                if since_check == window:
                    (self._checkpoint_l1 if self.norm == "L1" else self._checkpoint)(s, i, window)
                    since_check, window = 0, max(window - self.checkpoint_decrease, self.min_checkpoint)

        out_points[s["index"]] = s["x_best"]
        out_loss[s["index"]] = s["loss_best"]
        return out_fooled, out_points, out_loss

    def _step_factor(self) -> float:
        """The first step size as a multiple of eps: 2 (the paper's), 1 for l1-APGD."""
        return 1.0 if self.norm == "L1" else 2.0

    def _start(self, clean: torch.Tensor, generator) -> torch.Tensor:
        """The random start of each norm, drawn as the authors' code draws it (so equal seeds agree)."""
        if self.norm == "Linf":
            start = 2 * random_like(clean, generator) - 1
            shape = (-1,) + (1,) * (clean.dim() - 1)
            return (clean + self.eps * (start / (start.abs().flatten(1).max(1)[0].view(shape) + 1e-12))).clamp(0.0, 1.0)
        if generator is None:
            start = torch.randn_like(clean)
        else:
            start = torch.randn(clean.shape, dtype=clean.dtype, device=generator.device, generator=generator)
        start = start.to(clean.device)
        if self.norm == "L2":
            return (clean + self.eps * l2_unit(start)).clamp(0.0, 1.0)
        return (clean + start + project_l1(clean, start, self.eps)).clamp(0.0, 1.0)

    def _project_l2(self, clean: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Onto the L2 ball ∩ [0, 1], in the authors' arithmetic (unit direction times the capped length)."""
        delta = points - clean
        return (clean + l2_unit(delta) * torch.clamp(l2_norms(delta), max=self.eps)).clamp(0.0, 1.0)

    def _step(self, s: dict, i: int) -> torch.Tensor:
        """The next iterate: a step from ``s["x"]`` (with momentum but for L1), projected."""
        x, step, grad = s["x"], s["step"], s["grad"]
        momentum = MOMENTUM if i > 0 else 1.0
        previous_move = x - s["x_old"]
        if self.norm == "Linf":
            stepped = (x + step * torch.sign(grad)).clamp(s["low"], s["high"])
            return (x + (stepped - x) * momentum + previous_move * (1 - momentum)).clamp(s["low"], s["high"])
        if self.norm == "L2":
            stepped = self._project_l2(s["clean"], x + step * l2_unit(grad))
            return self._project_l2(s["clean"], x + (stepped - x) * momentum + previous_move * (1 - momentum))
        # l1-APGD: the signs of the share topk of coordinates with the largest |gradient|, L1-normalised.
        flat = grad.abs().flatten(1)
        size = flat.shape[1]
        rank = torch.clamp((1.0 - s["topk"]) * size, min=0, max=size - 1).long()
        threshold = flat.sort(dim=1)[0].gather(1, rank.unsqueeze(1)).view(step.shape)
        direction = (grad * (grad.abs() >= threshold).float()).sign()
        moved = x + step * direction / (l1_norms(direction) + 1e-10) - s["clean"]
        return s["clean"] + moved + project_l1(s["clean"], moved, self.eps)

    def _checkpoint_l1(self, s: dict, i: int, window: int) -> None:
        """l1-APGD's checkpoint: adapt the sparsity and the step factor to the best point's density."""
        density = (s["x_best"] != s["clean"]).flatten(1).sum(1).float()
        sparser = density / s["density"] < 0.95
        s["topk"] = density / math.prod(s["clean"].shape[1:]) / L1_DECREASE
        full = self._step_factor() * self.eps
        column = sparser.view(s["step"].shape)
        s["step"] = torch.where(column, torch.full_like(s["step"], full), s["step"] / L1_DECREASE).clamp(
            full / L1_MIN_FACTOR, full)
        s["density"] = density
        s["x"] = torch.where(column, s["x_best"], s["x"])
        s["grad"] = torch.where(column, s["grad_best"], s["grad"])

    def _checkpoint(self, s: dict, i: int, window: int) -> None:
        """Halve the step size where progress stalled (the paper's two conditions) and restart those
        samples from their best point."""
        steps = torch.arange(i - window + 1, i + 1, device=s["history"].device)
        # steps - 1 is -1 at the first checkpoint: a never-written column, as in the reference (module doc).
        rises = (s["history"][:, steps] > s["history"][:, steps - 1]).float().sum(1)
        stalled = (rises <= window * self.rho) | (~s["halved_at_check"] & (s["loss_at_check"] >= s["loss_best"]))
        column = stalled.view(s["step"].shape)
        s["step"] = torch.where(column, s["step"] / 2.0, s["step"])
        s["x"] = torch.where(column, s["x_best"], s["x"])
        s["grad"] = torch.where(column, s["grad_best"], s["grad"])
        s["loss_at_check"], s["halved_at_check"] = s["loss_best"].clone(), stalled


class APGDT(APGD):
    """Targeted Auto-PGD (APGD-T), L-infinity, L2 or L1 (Croce & Hein, ICML 2020): one run per target class.

    The targets are, per sample, the ``targets`` classes with the highest clean logits other than the
    true class; each target's runs attack only the points still robust. Arguments as :class:`APGD`,
    plus ``targets`` (None: 9 as in standard AutoAttack, or classes - 1 when there are fewer; more than
    classes - 1 is an error) and the loss, "dlr" (targeted DLR, the paper's) or "ce" (minus the
    cross-entropy towards the target).
    """

    settings_class = APGDTSettings
    name = settings_class.who
    targeted = settings_class.targeted

    def _extra_repr(self) -> str:
        return f", targets={self.targets}"

    def target_count(self, num_classes: int) -> int:
        return min(9, num_classes - 1) if self.targets is None else self.targets

    def _targets(self, clean_logits: torch.Tensor) -> list[torch.Tensor]:
        order = clean_logits.sort(dim=1)[1]  # ascending: the last column is the top class
        return [order[:, -rank] for rank in range(2, self.target_count(clean_logits.shape[1]) + 2)]

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        if self.loss == "ce":
            return -F.cross_entropy(logits, target, reduction="none")
        rows = torch.arange(logits.shape[0], device=logits.device)
        ordered = logits.sort(dim=1)[0]
        # Targeted DLR: margin to the target, scaled by the top logit minus the mean of the 3rd and 4th.
        return -(logits[rows, labels] - logits[rows, target]) / (
            ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12)


__all__ = ["APGD", "APGDT", "LOSSES", "MOMENTUM", "L1_TOPK"]
