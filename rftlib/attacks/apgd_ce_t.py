"""APGD-CE then APGD-T: a cheap two-attack ensemble for continuous evaluation. *Not* AutoAttack.

Croce and Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (https://arxiv.org/abs/2003.01690). The two white-box attacks of
standard AutoAttack that break nearly every point it breaks, without FAB-T and Square, and with 3
targets instead of 9 by default: a few times cheaper, for the many evaluations of a fine-tuning run.
Report it under its own name; standard AutoAttack is the ``autoattack`` attack.
"""
from __future__ import annotations

import torch
from torch import nn

from rftlib.attacks.apgd import APGD, APGDT
from rftlib.attacks.base import AttackOutcome, OutcomeAttack
from rftlib.attacks.settings import APGDCEAndTSettings


class APGDCEAndT(OutcomeAttack):
    """APGD-CE, then APGD-T (targeted DLR) on the points APGD-CE left robust.

    Arguments: eps, steps (per run, both attacks), targets (APGD-T's; default 3), restarts,
    autocast_dtype and norm ("Linf", "L2" or "L1"), as for :class:`~rftlib.attacks.APGD`. ``run`` returns per sample the point that
    broke it (APGD-CE's if both could) or APGD-T's best point, and the robust flag.
    """

    name = APGDCEAndTSettings.who

    def __init__(self, model: nn.Module, *, autocast_dtype: torch.dtype | None = None, **settings):
        # eps, steps, targets, restarts, norm: defaults in APGDCEAndTSettings (torch-free)
        ce, targeted = APGDCEAndTSettings(**settings).parts
        self.ce = APGD(model, autocast_dtype=autocast_dtype, **vars(ce))
        self.targeted = APGDT(model, autocast_dtype=autocast_dtype, **vars(targeted))
        self.model = model
        self.eps, self.norm = self.ce.eps, self.ce.norm

    def __repr__(self) -> str:
        return f"APGDCEAndT({self.ce!r}, {self.targeted!r})"

    def check_classes(self, num_classes: int) -> None:
        self.ce.check_classes(num_classes)
        self.targeted.check_classes(num_classes)

    def run(self, images: torch.Tensor, labels: torch.Tensor,
            generator: torch.Generator | None = None) -> AttackOutcome:
        first = self.ce.run(images, labels, generator=generator)
        robust = first.robust.clone()
        adversarial = first.adversarial
        todo = robust.nonzero().squeeze(1)
        if todo.numel():
            second = self.targeted.run(images[todo], labels.to(images.device)[todo], generator=generator)
            adversarial[todo] = second.adversarial
            robust[todo] = second.robust
        return AttackOutcome(adversarial, robust)


__all__ = ["APGDCEAndT"]
