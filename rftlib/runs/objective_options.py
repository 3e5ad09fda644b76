"""The training objectives' settings, without torch: each objective's options dataclass and
:func:`objective_options`, the one check of ``RunConfig.objective`` and ``objective_options``.

The objectives themselves (the losses, the training attack) are in :mod:`rftlib.training.objectives`,
which registers each under the same name with these options; a configuration is checked here before
torch loads, and without importing the training package.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass
from rftlib.core.registry import Registry


@dataclass(frozen=True)
class NoOptions:
    """The standard objective has no settings."""


@dataclass(frozen=True)
class TrainingAttackOptions:
    """The training attack (L-infinity PGD, images in [0, 1]).

    Attributes:
        eps: radius of the ball; None: the evaluation attack's eps (1/255 in the paper's study).
        alpha: step size; None: eps / 4, the evaluation's ratio (2/255 at eps 8/255, the usual
            adversarial-training pair); with 10 steps the iterate can cross the ball 2.5 times,
            Madry et al.'s rule of thumb.
        steps: PGD steps per training batch (10: TRADES' setting and the common PGD-10 of
            adversarial training). Each costs about one forward and one backward pass.
        random_start: start from a random point (pgd_at: uniform in the ball; trades: x + 0.001 N(0, I);
            without it TRADES' attack cannot move: the KL's gradient is zero at x' = x).
        eps_schedule: None (eps from the first step) or ``{clean: F, ramp: F}``, fractions of the
            training steps: clean inputs first, then eps ramps linearly to its target
            (:mod:`rftlib.remedies.eps_schedule`, Ngnawé et al.).
    """

    eps: float | None = None
    alpha: float | None = None
    steps: int = 10
    random_start: bool = True
    eps_schedule: dict | None = None


@dataclass(frozen=True)
class TradesOptions(TrainingAttackOptions):
    """TRADES: the training attack's settings, and ``beta``, the weight of the KL term (1/lambda in
    the paper; 6.0 is its CIFAR-10 setting; 0 gives standard training on clean inputs)."""

    beta: float = 6.0


@dataclass(frozen=True)
class FlypOptions:
    """FLYP (``rftlib.training.flyp``): ``train_text``, whether the text tower and the logit scale train
    with the image tower (true: the paper) or stay at their pretrained values."""

    train_text: bool = True


#: Objective names (in the order ``rftlib.training.objectives.OBJECTIVES`` registers them) -> options.
OBJECTIVE_OPTIONS: Registry[type] = Registry("objective")
OBJECTIVE_OPTIONS.add("standard", NoOptions)
OBJECTIVE_OPTIONS.add("pgd_at", TrainingAttackOptions)
OBJECTIVE_OPTIONS.add("trades", TradesOptions)
OBJECTIVE_OPTIONS.add("flyp", FlypOptions)


def attacks_in_training(name: str) -> bool:
    """Whether objective ``name`` runs a training attack (pgd_at, trades)."""
    return issubclass(OBJECTIVE_OPTIONS.get(name), TrainingAttackOptions)


def objective_options(name: str, *, eval_eps: float | None = None, **overrides) -> dict:
    """The settings of objective ``name`` with ``overrides`` applied and checked, as a plain mapping;
    with ``eval_eps`` the defaults are filled in (eps = eval_eps, alpha = eps / 4).

    Raises RftError (one line) for an unknown objective or option, a wrong type, eps <= 0 or > 1,
    alpha <= 0, steps < 1, beta < 0 or a bad ``eps_schedule`` (also: one on ``standard``). An unset
    ``eps_schedule`` is left out of the mapping, so configurations without one keep their run names.
    """
    from rftlib.remedies.eps_schedule import parse_eps_schedule

    options_class = OBJECTIVE_OPTIONS.get(name)
    if "eps_schedule" in overrides and options_class is NoOptions:
        parse_eps_schedule(overrides["eps_schedule"], name)  # the one-line refusal naming the objectives
    if overrides and options_class is NoOptions:
        raise RftError(f"objective {name!r} takes no options, got {', '.join(sorted(overrides))}; "
                       f"the training attack's settings apply to: "
                       f"{', '.join(n for n in OBJECTIVE_OPTIONS if attacks_in_training(n))}")
    options = build_dataclass(options_class, overrides, f"{name} objective option")
    values = dataclasses.asdict(options)
    for key in ("eps", "alpha"):
        value = values.get(key)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise RftError(f"{name} objective option {key!r} must be > 0, got {value!r}")
    if values.get("eps") is not None and values["eps"] > 1:
        raise RftError(f"{name} objective option 'eps' must be at most 1 (pixel space [0, 1]; "
                       f"8/255 = {8 / 255:.4f}), got {values['eps']!r}")
    if "steps" in values and values["steps"] < 1:
        raise RftError(f"{name} objective option 'steps' must be at least 1, got {values['steps']!r}")
    if "beta" in values and not (math.isfinite(values["beta"]) and values["beta"] >= 0):
        raise RftError(f"{name} objective option 'beta' must be >= 0, got {values['beta']!r}")
    if values.get("eps_schedule") is not None:
        values["eps_schedule"] = dataclasses.asdict(parse_eps_schedule(values["eps_schedule"], name))
    else:
        values.pop("eps_schedule", None)
    if eval_eps is not None and "eps" in values:
        if values["eps"] is None:
            values["eps"] = float(eval_eps)
        if values["alpha"] is None:
            values["alpha"] = values["eps"] / 4
    return values


__all__ = ["FlypOptions", "NoOptions", "OBJECTIVE_OPTIONS", "TrainingAttackOptions", "TradesOptions",
           "objective_options"]
