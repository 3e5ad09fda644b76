"""ε-scheduling for adversarial fine-tuning (Ngnawé, Heuillet et al., "Robust fine-tuning from non-robust
pretrained models: mitigating suboptimal transfer with epsilon-scheduling", 2025;
ngnawejonas/EpsilonScheduling): train on clean inputs first (ε = 0), then ramp ε linearly to the
target, then hold it.

Set as an option of the ``pgd_at`` and ``trades`` objectives::

    objective: pgd_at
    objective_options: {eps: 0.0157, eps_schedule: {clean: 0.2, ramp: 0.4}}

``clean`` and ``ramp`` are fractions of the run's training steps (so one setting means the same on a
demo of 100 steps and on the paper's 3 epochs). At step t of T (0-based: the batch that step t+1
trains on), ε_t = 0 while t < clean·T, then ε·(t − clean·T)/(ramp·T) until the ramp ends, then ε.
The step size scales with ε_t (α_t = α·ε_t/ε), keeping the attack's steps-to-radius ratio. While
ε_t = 0 the objective trains on the clean batch and runs no attack: pgd_at is then cross-entropy on
clean inputs, trades too (its KL term is exactly 0 at x' = x).

Light to import (no torch): ``RunConfig.validated()`` checks the option through ``parse_eps_schedule``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass
from rftlib.core.validation import number

#: The objectives with a training attack, the only ones a schedule applies to.
SCHEDULED_OBJECTIVES = ("pgd_at", "trades")


@dataclass(frozen=True)
class EpsSchedule:
    """Attributes:
        clean: fraction of the training steps on clean inputs (ε = 0) first; 0.1 by default.
        ramp: fraction of the training steps over which ε then rises linearly to the target; 0.3 by
            default; 0 jumps straight to it.
    """

    clean: float = 0.1
    ramp: float = 0.3

    def factor(self, step: int, total_steps: int) -> float:
        """ε_t / ε at 0-based training step ``step`` of ``total_steps``: 0, then linear, then 1."""
        clean_steps, ramp_steps = self.clean * total_steps, self.ramp * total_steps
        if step < clean_steps:
            return 0.0
        if ramp_steps <= 0:
            return 1.0
        return min(1.0, (step - clean_steps) / ramp_steps)


def parse_eps_schedule(values: dict, objective: str) -> EpsSchedule:
    """The schedule of ``objective_options.eps_schedule``; RftError (one line) for another objective
    than pgd_at / trades, an unknown key, a fraction outside [0, 1] or clean + ramp > 1."""
    if objective not in SCHEDULED_OBJECTIVES:
        raise RftError(f"objective_options.eps_schedule needs an adversarial objective "
                       f"({' or '.join(SCHEDULED_OBJECTIVES)}); objective is {objective!r}")
    if not isinstance(values, dict):
        raise RftError(f"objective_options.eps_schedule must be a mapping {{clean: F, ramp: F}}, got {values!r}")
    schedule = build_dataclass(EpsSchedule, values, "eps_schedule key")
    for name in ("clean", "ramp"):
        number(f"eps_schedule.{name}", getattr(schedule, name), low=0, high=1)
    if schedule.clean + schedule.ramp > 1 + 1e-12 or not math.isfinite(schedule.clean + schedule.ramp):
        raise RftError(f"eps_schedule.clean + eps_schedule.ramp must be at most 1 (fractions of training), "
                       f"got {schedule.clean} + {schedule.ramp}")
    return schedule


__all__ = ["EpsSchedule", "SCHEDULED_OBJECTIVES", "parse_eps_schedule"]
