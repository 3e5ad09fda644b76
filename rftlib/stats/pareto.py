"""Pareto frontiers of (clean accuracy, adversarial accuracy) points and the area they dominate.

A run's evaluations trace a path in the accuracy / robustness plane; the study (RQ2) scores a
fine-tuning strategy by the area of the region its best trade-offs dominate, with reference point
(0, 0) and both axes in [0, 1], and compares strategies by "% above average".

Points are given as a sequence of (clean_acc, adv_acc) pairs or an (n, 2) array.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rftlib.core.errors import RftError, unknown_choice

AUC_METHODS = ("staircase", "trapezoid")


def as_points(points: Any) -> np.ndarray:
    """``points`` as a float (n, 2) array, checked: finite and inside the unit square.

    An empty input gives a (0, 2) array.
    """
    try:
        arr = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as exc:
        raise RftError(f"points must be (clean_acc, adv_acc) pairs of numbers: {exc}") from None
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise RftError(f"points must be (clean_acc, adv_acc) pairs, an (n, 2) array; got shape {arr.shape}")
    if np.isnan(arr).any():
        raise RftError("points contain NaN; drop evaluations without both accuracies first")
    if (arr < 0).any() or (arr > 1).any():
        bad = arr[((arr < 0) | (arr > 1)).any(axis=1)][0]
        raise RftError(f"accuracies must lie in [0, 1] (fractions, not percent); got {tuple(bad)}")
    return arr


def pareto_front(points: Any) -> np.ndarray:
    """The non-dominated points, maximising both coordinates, sorted by clean accuracy ascending.

    A point is dominated when another point is >= on both coordinates and > on at least one;
    exact duplicates are collapsed to one. The result is an (m, 2) array whose first column
    strictly increases and whose second strictly decreases; (0, 2) for empty input.
    """
    arr = as_points(points)
    if len(arr) == 0:
        return arr
    # Sweep from the largest clean accuracy down (ties: largest robust accuracy first); a point
    # survives only if it is strictly more robust than everything to its right, which rejects
    # duplicates, equal-x points with lower y and equal-y points with lower x in one rule.
    swept = arr[np.lexsort((-arr[:, 1], -arr[:, 0]))]
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], swept[:-1, 1])))
    return swept[swept[:, 1] > best_before][::-1].copy()


def pareto_auc(points: Any, method: str = "staircase") -> float:
    """Area of the unit-square region dominated by the points' Pareto front, reference (0, 0).

    ``method="staircase"`` (default, the study's definition): the exact area of the union of the
    rectangles [0, x] x [0, y] over the points, i.e. of everything some point beats or equals on
    both axes. Dominated points do not change it.

    ``method="trapezoid"``: the area under the piecewise-linear curve through the front points,
    closed by a horizontal segment from (0, y_max) to the most robust front point and a vertical
    drop from the most accurate front point to (x_max, 0). It equals the staircase area plus half
    of every step (linear interpolation between neighbouring trade-offs), so it is never smaller;
    the two agree for a single point.

    An empty set of points dominates nothing: 0.0. NaN or values outside [0, 1] raise RftError.
    """
    if method not in AUC_METHODS:
        raise unknown_choice("Pareto AUC method", method, AUC_METHODS)
    front = pareto_front(points)
    if len(front) == 0:
        return 0.0
    x, y = front[:, 0], front[:, 1]
    widths = np.diff(x, prepend=0.0)
    if method == "staircase":
        # Over (x_{i-1}, x_i] the highest rectangle still covering is that of point i.
        return float(np.sum(widths * y))
    # Trapezoid: flat from x = 0 to the first point, then straight lines between points.
    y_left = np.concatenate(([y[0]], y[:-1]))
    return float(np.sum(widths * (y + y_left) / 2.0))


def percent_above_average(aucs: Any) -> Any:
    """Each strategy's AUC relative to the mean over strategies, in percent: 100 * (AUC / mean - 1).

    ``aucs`` is a mapping {strategy: auc} (returns a dict), a pandas Series indexed by strategy
    (returns a Series) or a DataFrame with strategies as the index and datasets as columns
    (returns a DataFrame; the mean is taken per column, over the strategies present there, so a
    missing value (NaN) is left out of its column's mean and stays NaN).
    """
    if isinstance(aucs, Mapping):
        if not aucs:
            raise RftError("percent_above_average needs at least one strategy's AUC")
        series = _numeric(pd.Series(dict(aucs), dtype=object))
        return {k: float(v) for k, v in _relative(series).items()}
    if isinstance(aucs, pd.Series):
        return _relative(_numeric(aucs))
    if isinstance(aucs, pd.DataFrame):
        return aucs.apply(lambda col: _relative(_numeric(col)), axis=0)
    raise RftError(f"percent_above_average takes a dict, Series or DataFrame of AUCs, got {type(aucs).__name__}")


def _numeric(values: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(values, errors="raise").astype(float)
    except (TypeError, ValueError):
        raise RftError(f"AUCs must be numbers; got {list(values)}") from None


def _relative(values: pd.Series) -> pd.Series:
    mean = values.mean()
    if not np.isfinite(mean) or mean <= 0:
        name = f" for {values.name!r}" if values.name is not None else ""
        raise RftError(f"the mean AUC{name} is {mean}; need a positive mean to compare against")
    return 100.0 * (values / mean - 1.0)
