"""The checks of the RQ4 remedy fields of a run (``l2_sp``, ``objective_options.eps_schedule``,
``final_model: robust_val`` with ``selection_tolerance``, ``objective: flyp``), called by
``RunConfig.validated()`` before anything is loaded or written: each bad value is one RftError line. Light
to import (no torch, nothing from rftlib.training)."""
from __future__ import annotations

from dataclasses import dataclass

from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass
from rftlib.core.validation import number
from rftlib.remedies.eps_schedule import parse_eps_schedule


@dataclass(frozen=True)
class L2SPOptions:
    """``l2_sp`` (:mod:`rftlib.remedies.l2_sp`). Attributes:
        alpha: weight of α/2·‖w − w_start‖² on every trainable parameter but the head (0.01, TLlib's).
        beta: weight of β/2·‖w_head‖² on the new classification head (0.01).
    """

    alpha: float = 0.01
    beta: float = 0.01


def l2_sp_options(values: dict) -> L2SPOptions:
    """The options of ``l2_sp``; RftError (one line) for an unknown key or a negative or non-finite weight."""
    if not isinstance(values, dict):
        raise RftError(f"l2_sp must be a mapping {{alpha: A, beta: B}} (or left out), got {values!r}")
    options = build_dataclass(L2SPOptions, values, "l2_sp key")
    for name in ("alpha", "beta"):
        number(f"l2_sp.{name}", getattr(options, name), low=0)
    return options


def check_remedies(config) -> None:
    """RftError for a bad remedy setting of ``config`` (a RunConfig): a negative L2-SP weight, an
    ε-schedule on an objective without a training attack, a selection tolerance outside [0, 1] or
    one without ``final_model: robust_val``, robust selection without a validation hold-out, FLYP on a
    timm model or with LP-FT."""
    if config.l2_sp is not None:
        l2_sp_options(config.l2_sp)
    if "eps_schedule" in (config.objective_options or {}):
        parse_eps_schedule(config.objective_options["eps_schedule"], config.objective)
    probe = getattr(config, "lp_ft", None)
    if isinstance(probe, dict) and "eps_schedule" in (probe.get("objective_options") or {}):
        raise RftError("eps_schedule applies to the run's objective (objective_options), not to lp_ft's probe stage")
    number("selection_tolerance", config.selection_tolerance, low=0, high=1, optional=True)
    if config.selection_tolerance is not None and config.final_model != "robust_val":
        raise RftError(f"selection_tolerance applies to final_model 'robust_val' only; final_model is "
                       f"{config.final_model!r}")
    if config.final_model == "robust_val" and config.val_fraction == 0:
        raise RftError("final_model 'robust_val' needs a validation hold-out: val_fraction > 0")
    if config.objective == "flyp":
        check_flyp(config)


def check_flyp(config) -> None:
    """FLYP (``rftlib.training.flyp``) needs an open_clip model, whose text tower it trains against; its
    head is that tower's zero-shot classifier, so LP-FT's probe head has no place in it."""
    from rftlib.models.clip_names import is_clip_name

    if not is_clip_name(config.model):
        raise RftError(f"objective 'flyp' needs an open_clip model (model: open_clip:ViT-B-16, ...) for its text "
                       f"tower; {config.model!r} is a timm model")
    if config.lp_ft is not None:
        raise RftError("lp_ft cannot be combined with objective 'flyp' (FLYP's head is its text tower's zero-shot "
                       "classifier, not a fitted probe); drop one of them")


__all__ = ["L2SPOptions", "check_flyp", "check_remedies", "l2_sp_options"]
