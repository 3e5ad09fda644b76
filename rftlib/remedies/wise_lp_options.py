"""Checks and defaults of the ``wise_ft`` and ``lp_ft`` run options (called lazily from
``RunConfig.validated()`` and ``resolved()``; light to import: no torch, no training package).

``wise_ft: {alphas: [0, 0.25, 0.5, 0.75, 1.0], start: probe, refine: 0}`` (``rftlib.training.wise_ft``;
``refine``: α added where the curve changes fastest, ``rftlib.remedies.wise_grid``);
``lp_ft: {steps: N, lr: x, objective: standard, objective_options: {}}`` (``rftlib.training.lp_ft``).
Each bad value is one RftError line naming the valid choices.
"""
from __future__ import annotations

from rftlib.core.errors import RftError
from rftlib.core.options import check_keys
from rftlib.core.validation import integer, number

WISE_FT_KEYS = ("alphas", "start", "refine")
LP_FT_KEYS = ("steps", "lr", "objective", "objective_options")
# The α-curve of Wortsman et al.'s figures, coarser; and the start points (see rftlib.training.wise_ft):
# zeroshot only for open_clip models, whose head starts as CLIP's zero-shot classifier.
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
STARTS = ("probe", "initial", "zeroshot")
MAX_REFINE = 32  # α added by refinement; each costs one evaluation of the run's end model
# Probe-stage defaults: a constant learning rate (no warm-up: the stage is short), the PEFT strategies'
# default peak lr (5e-3), for one pass over a few hundred batches.
LP_FT_DEFAULTS = {"steps": 200, "lr": 5e-3, "objective": "standard", "objective_options": {}}


def check_alphas(alphas) -> list[float]:
    """The α list as sorted floats; RftError for an empty list, a value outside [0, 1] or a repeat.
    Any order is accepted (the curve is a set of points; rows are written sorted)."""
    if alphas is None:
        return list(DEFAULT_ALPHAS)
    if not isinstance(alphas, (list, tuple)) or not alphas:
        raise RftError(f"wise_ft alphas must be a non-empty list of numbers in [0, 1], got {alphas!r}")
    for index, alpha in enumerate(alphas):
        number(f"wise_ft alphas[{index}]", alpha, low=0, high=1)
    values = [float(alpha) for alpha in alphas]
    if len(set(values)) != len(values):
        raise RftError(f"wise_ft alphas must be distinct, got {list(alphas)}")
    return sorted(values)


def default_start(model: str | None) -> str:
    """WiSE-FT's start by default: the zero-shot model for an open_clip model (the WiSE-FT paper's),
    the pretrained backbone with a probe head otherwise."""
    from rftlib.models.clip_names import is_clip_name

    return "zeroshot" if is_clip_name(model) else "probe"


def check_start(start, model: str | None = None, objective: str | None = None) -> str:
    """``start`` if it is one of STARTS and fits the run's ``model`` and ``objective`` (when given): zeroshot
    needs an open_clip model; a FLYP run's head is its text tower's zero-shot classifier, not a probe."""
    from rftlib.models.clip_names import is_clip_name

    if start not in STARTS:
        raise RftError(f"wise_ft start must be one of {', '.join(STARTS)}, got {start!r}")
    if start == "zeroshot" and model is not None and not is_clip_name(model):
        raise RftError(f"wise_ft start 'zeroshot' needs an open_clip model (its zero-shot head); {model!r} has none: "
                       f"use probe or initial")
    if start == "probe" and objective == "flyp":
        raise RftError("wise_ft start 'probe' does not apply to objective 'flyp' (its head is the text tower's "
                       "zero-shot classifier); use zeroshot or initial")
    return start


def wise_ft_options(spec: dict | None, model: str | None = None, objective: str | None = None) -> dict | None:
    """``spec`` completed with its defaults (alphas sorted; start by ``model``: zeroshot for open_clip
    models, probe otherwise), or None; RftError on a bad value."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise RftError(f"wise_ft must be a mapping {{alphas: [...], start: probe|initial|zeroshot}}, got {spec!r}")
    check_keys(spec, list(WISE_FT_KEYS), "wise_ft option")
    start = check_start(spec.get("start", default_start(model)), model, objective)
    options = {"alphas": check_alphas(spec.get("alphas")), "start": start}
    refine = spec.get("refine", 0)
    integer("wise_ft refine", refine, low=0)
    if refine > MAX_REFINE:
        raise RftError(f"wise_ft refine must be at most {MAX_REFINE} (each α costs one evaluation), got {refine}")
    return options | ({"refine": refine} if refine else {})  # refine 0 left out: earlier runs keep their names


def lp_ft_options(spec: dict | None, strategy: str) -> dict | None:
    """``spec`` completed with LP_FT_DEFAULTS, or None; RftError on a bad value or with ``linear_probe``
    (whose run is the probe stage itself). The probe objective's own options are checked by the caller
    (``rftlib.training.objectives``), as the run's objective is."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise RftError(f"lp_ft must be a mapping {{steps, lr, objective, objective_options}}, got {spec!r}")
    check_keys(spec, list(LP_FT_KEYS), "lp_ft option")
    if strategy == "linear_probe":
        raise RftError("lp_ft cannot be combined with strategy linear_probe (its run is the probe stage itself); "
                       "choose another strategy or drop lp_ft")
    values = {**LP_FT_DEFAULTS, **spec}
    integer("lp_ft steps", values["steps"], low=1)
    number("lp_ft lr", values["lr"], low=0, low_open=True)
    if not isinstance(values["objective_options"], dict):
        raise RftError(f"lp_ft objective_options must be a mapping, got {values['objective_options']!r}")
    return values
