"""Threat models: the L-infinity, L2 and L1 balls, their radii and the projections onto ball ∩ [0, 1].

Radii are in the norm's own units on [0, 1] images of d = C·H·W values. The largest meaningful radius
is the one that reaches every image in the unit box from any other: 1 for L-infinity, sqrt(d) for L2
and d for L1; a larger one is a typo (8 meant 8/255, say) and is refused.

No torch here: the run configuration checks norms and radii with it before anything loads. The
projections themselves are in :mod:`rftlib.attacks.projections`.
"""
from __future__ import annotations

import math

from rftlib.core.errors import RftError

NORMS = ("Linf", "L2", "L1")
DEFAULT_NORM = "Linf"


def check_norm(norm: object, who: str, defined: tuple[str, ...] = NORMS) -> str:
    """``norm`` if it is one of ``defined`` (the norms the attack ``who`` defines); one RftError line otherwise."""
    if norm not in NORMS:
        raise RftError(f"{who} norm must be one of {', '.join(defined)}, got {norm!r}")
    if norm not in defined:
        raise RftError(f"{who} is not defined for the {norm} norm; it defines {', '.join(defined)}")
    return norm


def max_radius(norm: str, dimension: int) -> float:
    """The largest meaningful radius of the ``norm`` ball for [0, 1] inputs of ``dimension`` values:
    the diameter of the unit box in that norm."""
    return {"Linf": 1.0, "L2": math.sqrt(dimension), "L1": float(dimension)}[norm]


def image_dimension(image_size: int, channels: int = 3) -> int:
    return channels * image_size * image_size


def check_radius(eps: object, norm: str, who: str, dimension: int | None = None, name: str = "eps") -> float:
    """``eps`` as a float if it is a finite number > 0 and, where the input dimension is known (always for
    L-infinity), at most the norm's largest meaningful radius; one RftError line otherwise."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps):
        raise RftError(f"{who} {name} must be a finite number, got {eps!r}")
    if eps <= 0:
        raise RftError(f"{who} {name} must be > 0, got {eps!r}")
    if norm == "Linf" and eps > 1:
        # Images are in [0, 1]: eps = 8 almost certainly meant 8/255.
        raise RftError(f"{who} {name} must be at most 1 (pixel space [0, 1]; 8/255 = {8 / 255:.4f}), got {eps!r}")
    if dimension is not None and eps > max_radius(norm, dimension):
        bound = {"L2": "sqrt(d)", "L1": "d"}.get(norm, "1")
        raise RftError(f"{who} {name} must be at most {bound} = {max_radius(norm, dimension):.6g} for {norm} on "
                       f"[0, 1] images of d = {dimension} values, got {eps!r}")
    return float(eps)


__all__ = ["DEFAULT_NORM", "NORMS", "check_norm", "check_radius", "image_dimension", "max_radius"]
