"""Where to refine a WiSE-FT α-curve: between the two neighbouring α whose evaluated models lie farthest
apart in the (clean accuracy, robust accuracy) plane, the stretch where the curve changes fastest.

A coarse grid (0, 0.25, 0.5, 0.75, 1) can step over the whole useful region of a curve (on the demo's
positive control, LoRA's lies between α 0.3 and 0.45): ``wise_ft: {refine: N}`` evaluates N more α, each
the midpoint of the currently longest stretch (``next_alpha``). Midpoints of a dyadic grid stay exact in
binary, so the α and their file names are exact too. Light to import (no torch).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

#: No α is refined closer than this to a neighbour: the curve is then as fine as its evaluation noise.
MIN_GAP = 1 / 64


def next_alpha(points: Iterable[Mapping[str, float]]) -> float | None:
    """The α to evaluate next: the midpoint of the neighbouring pair (by α) of ``points`` (rows with
    alpha, clean_acc, adv_acc) farthest apart in (clean_acc, adv_acc); the first such pair on ties; None
    with fewer than two points or when every stretch is at most ``2 * MIN_GAP`` wide in α, or flat."""
    rows = sorted(points, key=lambda r: r["alpha"])
    best, longest = None, 0.0
    for left, right in zip(rows, rows[1:]):
        if right["alpha"] - left["alpha"] <= 2 * MIN_GAP:
            continue
        distance = math.hypot(right["clean_acc"] - left["clean_acc"], right["adv_acc"] - left["adv_acc"])
        if distance > longest:
            best, longest = (left["alpha"] + right["alpha"]) / 2, distance
    return best


__all__ = ["MIN_GAP", "next_alpha"]
