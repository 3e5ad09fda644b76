"""AutoAttack, standard version (APGD-CE, APGD-T, FAB-T, Square), run through the authors' own code,
for the L-infinity, L2 or L1 threat model.

Croce and Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (https://arxiv.org/abs/2003.01690); code: fra31/auto-attack,
packaged as ``pyautoattack`` (install: ``pip install 'rftlib[autoattack]'``).

Nothing of AutoAttack is re-implemented here. The wrapper only gives it rftlib's attack contract:
the model in eval mode with frozen parameters for the attack and restored afterwards, float32
arithmetic (no autocast, no TF32), a seed drawn from the caller's ``generator`` (the authors' code
reseeds the global RNG, which is saved and restored around it), images checked to be in [0, 1], and
per-sample robust flags taken from the authors' own final predictions.

The standard version differs by norm as the authors set it (``AutoAttack._set_version``): for L1,
APGD-CE runs 5 restarts and APGD-T 5 target classes, both with the decreasing-eps schedule
(3·eps, 2·eps, eps; Croce & Hein, ICML 2021); for L-infinity and L2, one restart and 9 targets.
"""
from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator

import torch
from torch import nn

from rftlib.core.errors import RftError
from rftlib.core.seeding import preserved_rng
from rftlib.attacks.base import AttackOutcome, OutcomeAttack, check_inputs, frozen_eval
from rftlib.attacks.norms import DEFAULT_NORM, check_radius
from rftlib.attacks.settings import (INSTALL, STANDARD_SQUARE_QUERIES, STANDARD_STEPS, STANDARD_TARGETS,  # noqa: F401  re-exported
                       STANDARD_TARGETS_L1, AutoAttackSettings, adopt, require_pyautoattack)


class AutoAttack(OutcomeAttack):
    """Standard AutoAttack (Croce & Hein, ICML 2020) through the authors' code, L-infinity, L2 or L1, [0, 1] pixels.

    Arguments:
        model: maps images in [0, 1] to logits; left exactly as found.
        eps: radius of the ball in the norm's units (default: the study's L-infinity 1/255).
        targets: target classes of APGD-T and FAB-T. None: the standard 9 (APGD-T's 5 for L1), or
            classes - 1 for a model with fewer classes; more than classes - 1 is an error.
        steps, square_queries: iterations of APGD and FAB, and queries of Square. The standard values
            (100 and 5000) unless a cheaper, *non-standard* run is wanted (a demo): ``is_standard``
            says which, and the run summary records it.
        norm: "Linf" (default), "L2" or "L1": the authors' standard version for that norm.

    ``run(images, labels, generator)`` returns an :class:`AttackOutcome` whose flags are AutoAttack's
    own: False for points misclassified clean or broken by any of its four attacks. The seed for the
    authors' code is drawn from ``generator`` (or from the global RNG without one).
    """

    name = AutoAttackSettings.who

    def __init__(self, model: nn.Module, **settings):
        # eps, targets, steps, square_queries, norm: defaults and checks in AutoAttackSettings (torch-free,
        # so configurations are checked by the same code before torch loads).
        if not isinstance(model, nn.Module):
            raise RftError(f"AutoAttack model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.settings = AutoAttackSettings(**settings)
        adopt(self, self.settings)

    @property
    def is_standard(self) -> bool:
        return (self.steps, self.square_queries) == (STANDARD_STEPS, STANDARD_SQUARE_QUERIES) and \
            self.targets in (None, self._standard_targets)

    @property
    def _standard_targets(self) -> int:
        return STANDARD_TARGETS_L1 if self.norm == "L1" else STANDARD_TARGETS

    def __repr__(self) -> str:
        return (f"AutoAttack(eps={self.eps:.6g}, targets={self.targets}, steps={self.steps}, "
                f"square_queries={self.square_queries}, standard={self.is_standard}"
                + (f", norm={self.norm!r})" if self.norm != DEFAULT_NORM else ")"))

    def check_classes(self, num_classes: int) -> None:
        self.settings.check_classes(num_classes)

    def target_count(self, num_classes: int) -> int:
        return min(self._standard_targets, num_classes - 1) if self.targets is None else self.targets

    def run(self, images: torch.Tensor, labels: torch.Tensor,
            generator: torch.Generator | None = None) -> AttackOutcome:
        check_inputs(images, labels, self.name)
        if images.dim() > 1:
            check_radius(self.eps, self.norm, self.name, math.prod(images.shape[1:]))
        images = images.detach().clone().float()
        labels = labels.to(images.device).long()
        if images.shape[0] == 0:
            return AttackOutcome(images, torch.zeros(0, dtype=torch.bool, device=images.device))
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                 device=generator.device if generator is not None else "cpu").item())
        with frozen_eval(self.model), _fp32(images.device), preserved_rng(), _trace_kept():
            with torch.no_grad():
                num_classes = self.model(images[:1]).shape[1]
            self.check_classes(num_classes)
            adversarial, predicted = self._reference(seed, images.device, num_classes).run_standard_evaluation(
                images, labels, batch_size=len(images))
        return AttackOutcome(adversarial, predicted == labels)

    def _reference(self, seed: int, device: torch.device, num_classes: int):
        """The authors' AutoAttack, standard version, with this wrapper's settings."""
        from pyautoattack import AutoAttack as Reference
        from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

        reference = Reference(self.model, eps=self.eps, norm=self.norm, seed=seed, device=device,
                              version="standard")
        if self.steps != STANDARD_STEPS:
            # APGD derives its checkpoints from n_iter when built, so a cheaper run needs new instances,
            # built as the authors' constructor and standard version build them.
            common = dict(n_iter=self.steps, verbose=False, eps=self.eps, norm=self.norm, eot_iter=1, rho=0.75,
                          seed=seed, device=device, logger=reference.logger, use_largereps=self.norm == "L1")
            reference.apgd = APGDAttack(self.model, n_restarts=reference.apgd.n_restarts, **common)
            reference.apgd_targeted = APGDAttack_targeted(self.model, n_restarts=1, **common)
            reference.fab.n_iter = self.steps
        reference.apgd_targeted.n_target_classes = self.target_count(num_classes)
        # FAB-T keeps 9 targets under every norm in the standard version.
        reference.fab.n_target_classes = (min(STANDARD_TARGETS, num_classes - 1) if self.targets is None
                                          else self.targets)
        reference.square.n_queries = self.square_queries
        return reference


@contextlib.contextmanager
def _fp32(device: torch.device) -> Iterator[None]:
    """Full float32: no autocast from an enclosing block, no TF32 matmuls or convolutions on CUDA."""
    precision = torch.get_float32_matmul_precision()
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.autocast(device_type=device.type, enabled=False):
            yield
    finally:
        torch.set_float32_matmul_precision(precision)
        torch.backends.cudnn.allow_tf32 = cudnn_tf32


@contextlib.contextmanager
def _trace_kept() -> Iterator[None]:
    """The authors' check for dynamic defences sets and then clears ``sys.settrace``, which would
    switch off a debugger or coverage: put back whatever tracer was there."""
    tracer = sys.gettrace()
    try:
        yield
    finally:
        sys.settrace(tracer)


__all__ = ["AutoAttack", "INSTALL", "STANDARD_TARGETS_L1", "require_pyautoattack"]
