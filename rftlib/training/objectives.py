"""Training objectives: the loss one fine-tuning step minimises, looked up by name.

=========  ===================================================  ==========================
name       loss of a batch (x, y)                               after
=========  ===================================================  ==========================
standard   CE(f(x), y)                                          the paper (the default)
pgd_at     CE(f(x'), y), x' = PGD on the cross-entropy          Madry et al., ICLR 2018
trades     CE(f(x), y) + beta * KL(f(x) || f(x')),              Zhang et al., ICML 2019
           x' = PGD on that KL
flyp       CLIP's contrastive loss of the images against        Goyal et al., CVPR 2023
           captions of their classes (open_clip models only)    (``rftlib.training.flyp``)
=========  ===================================================  ==========================

The training attack has its own settings (:class:`TrainingAttackOptions`, with every objective's options
and their checks in :mod:`rftlib.runs.objective_options`, torch-free), separate from the
evaluation attack's; its eps defaults to the evaluation's. ``eps_schedule`` (pgd_at and trades) trains
on clean inputs first, then ramps eps up linearly (``rftlib.remedies.eps_schedule``). It runs on rftlib's PGD
(``rftlib.attacks``), under bf16 autocast when the run is bf16, and generates its examples with the
model in **eval mode** (dropout off, the convention of Madry et al.'s and TRADES' code; the mode of every
submodule, every ``requires_grad`` and every ``.grad`` are restored exactly afterwards). The loss
forward passes then run in the model's own mode. The attack's random start draws from a generator
seeded by (run seed, step), so a resumed run trains on exactly the same adversarial examples.

Example::

    objective = make_objective("trades", seed=0, eps=2 / 255, beta=6.0)
    loss, logits = objective(model, images, labels, step=step, precision="bf16")
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.attacks import PGD
from rftlib.attacks.trades import TradesKL
from rftlib.core.devices import autocast_for
from rftlib.core.errors import RftError
from rftlib.runs.objective_options import (OBJECTIVE_OPTIONS, FlypOptions, NoOptions, TradesOptions,
                                           TrainingAttackOptions, objective_options)
from rftlib.core.registry import Registry
from rftlib.core.seeding import derived_seed
from rftlib.training.flyp import flyp_loss

#: Mixed into the training attack's seed so its stream never coincides with the evaluation attack's,
#: which is seeded by (run seed, step) alone.
TRAINING_ATTACK_STREAM = 0x7472_6169_6E  # "train"


class Objective:
    """The loss of one training batch. ``objective(model, images, labels, step=, precision=)`` returns
    (loss, logits): the scalar to back-propagate and the logits it was computed from (the loop's
    training accuracy reads them: adversarial for pgd_at, clean for standard and trades)."""

    options_class: type = NoOptions
    #: Whether the objective needs an open_clip model (its text tower): FLYP. The others take any model.
    clip_only: bool = False

    def __init__(self, options=None, *, seed: int = 0, total_steps: int | None = None):
        self.options = options if options is not None else self.options_class()
        self.seed = seed
        self.total_steps = total_steps

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options})"

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, *, step: int,
                 precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


#: The objectives by name, each with the options class :data:`rftlib.runs.objective_options.OBJECTIVE_OPTIONS`
#: registers under that name (checked below).
OBJECTIVES: Registry[type[Objective]] = Registry("objective")


@OBJECTIVES.register("standard")
class Standard(Objective):
    """Cross-entropy on the clean batch, forward under the run's autocast, loss in fp32."""

    def __call__(self, model, images, labels, *, step, precision="fp32"):
        with autocast_for(images.device, precision):
            logits = model(images)
            return F.cross_entropy(logits.float(), labels), logits


class Adversarial(Objective):
    """An objective with a training attack; subclasses say which attack and what loss."""

    options_class = TrainingAttackOptions
    attack_class: type[PGD] = PGD

    def eps_factor(self, step: int) -> float:
        """eps at training step ``step`` over the target eps: 1, or the ε-schedule's ramp."""
        if self.options.eps_schedule is None:
            return 1.0
        if self.total_steps is None:
            raise RftError(f"{type(self).__name__} with an eps_schedule needs total_steps (make_objective)")
        from rftlib.remedies.eps_schedule import EpsSchedule

        return EpsSchedule(**self.options.eps_schedule).factor(step, self.total_steps)

    def make_attack(self, model: nn.Module, precision: str, factor: float = 1.0) -> PGD:
        options = self.options
        if options.eps is None or options.alpha is None:
            raise RftError(f"{type(self).__name__} needs eps and alpha resolved; build it with make_objective")
        # Under an ε-schedule the step size scales with eps: the same steps-to-radius ratio throughout.
        return self.attack_class(model, eps=options.eps * factor, alpha=options.alpha * factor,
                                 steps=options.steps, random_start=options.random_start,
                                 autocast_dtype=torch.bfloat16 if precision == "bf16" else None)

    def generator(self, device: torch.device, step: int) -> torch.Generator:
        """The random start's generator at training step ``step``: a function of (seed, step) only."""
        return torch.Generator(device=device).manual_seed(derived_seed(self.seed, step, TRAINING_ATTACK_STREAM))

    def adversarial(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, step: int,
                    precision: str = "fp32") -> torch.Tensor:
        """The training attack's examples for this batch (eval mode; the model is left as found); the
        clean batch itself, with no attack run, where an ε-schedule sets eps to 0."""
        factor = self.eps_factor(step)
        if factor == 0:
            return images
        attack = self.make_attack(model, precision, factor)
        return attack(images, self._attack_labels(labels), generator=self.generator(images.device, step))

    def _attack_labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        return labels


@OBJECTIVES.register("pgd_at")
class PGDAT(Adversarial):
    """Madry et al. (ICLR 2018): cross-entropy on PGD examples only."""

    def __call__(self, model, images, labels, *, step, precision="fp32"):
        adversarial = self.adversarial(model, images, labels, step=step, precision=precision)
        with autocast_for(images.device, precision):
            logits = model(adversarial)
            return F.cross_entropy(logits.float(), labels), logits


@OBJECTIVES.register("trades")
class Trades(Adversarial):
    """Zhang et al. (ICML 2019): clean cross-entropy + beta * KL(p(x) || p(x')), the adversarial
    example found by maximising that KL (:class:`rftlib.attacks.trades.TradesKL`).

    Gradients flow through both distributions of the KL, as in the authors' code. The clean logits are
    computed once and serve both terms (the authors' code runs the clean forward twice; the same
    under a deterministic model, one forward pass cheaper).
    """

    options_class = TradesOptions
    attack_class = TradesKL

    def _attack_labels(self, labels):
        return None  # TradesKL computes p(x) itself, in eval mode

    def __call__(self, model, images, labels, *, step, precision="fp32"):
        adversarial = self.adversarial(model, images, labels, step=step, precision=precision)
        if adversarial is images:  # eps 0 in an ε-schedule's clean phase: the KL term is 0 at x' = x
            return Standard.__call__(self, model, images, labels, step=step, precision=precision)
        with autocast_for(images.device, precision):
            logits = model(images)
            adversarial_logits = model(adversarial)
        return trades_loss(logits, adversarial_logits, labels, self.options.beta), logits


def trades_loss(logits: torch.Tensor, adversarial_logits: torch.Tensor, labels: torch.Tensor,
                beta: float) -> torch.Tensor:
    """CE(logits, labels) + beta * KL(softmax(logits) || softmax(adversarial_logits)), both terms
    averaged over the batch, in fp32."""
    logits, adversarial_logits = logits.float(), adversarial_logits.float()
    kl = F.kl_div(F.log_softmax(adversarial_logits, dim=1), F.softmax(logits, dim=1), reduction="batchmean")
    return F.cross_entropy(logits, labels) + beta * kl


@OBJECTIVES.register("flyp")
class Flyp(Objective):
    """Goyal et al. (CVPR 2023): CLIP's contrastive loss between each image and a caption of its class,
    for open_clip models (``rftlib.training.flyp``, which also says what trains)."""

    options_class = FlypOptions
    clip_only = True

    def __call__(self, model, images, labels, *, step, precision="fp32"):
        return flyp_loss(model, images, labels, seed=self.seed, step=step, precision=precision)


# ---------------------------------------------------------------------------------------------------
assert [(name, OBJECTIVES.get(name).options_class) for name in OBJECTIVES] == \
    [(name, OBJECTIVE_OPTIONS.get(name)) for name in OBJECTIVE_OPTIONS], "objectives and their options registered apart"


def make_objective(name: str = "standard", *, seed: int = 0, eval_eps: float = 1 / 255,
                   total_steps: int | None = None, **options) -> Objective:
    """The objective registered as ``name``; ``options`` override its settings (eps defaults to
    ``eval_eps``, the evaluation attack's, 1/255 in the paper's study); ``seed`` seeds the training
    attack's random start together with the step; ``total_steps`` (the run's length) places an
    ``eps_schedule``."""
    cls = OBJECTIVES.get(name)
    values = objective_options(name, eval_eps=eval_eps, **options)
    return cls(cls.options_class(**values), seed=seed, total_steps=total_steps)


__all__ = ["OBJECTIVES", "Objective", "TrainingAttackOptions", "TradesOptions", "make_objective",
           "objective_options", "trades_loss"]
