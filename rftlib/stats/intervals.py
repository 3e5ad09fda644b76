"""Error bars: binomial intervals, paired differences of accuracies, t-intervals over seeds, seeded bootstrap.

- ``wilson_interval``: the Wilson score interval for an accuracy k/n. Chosen over Clopper-Pearson
  because its coverage stays close to the nominal 95% on average, where Clopper-Pearson's "exact"
  interval is conservative (often 97-99%, wider than it needs to be; Brown, Cai & DasGupta,
  Statistical Science 2001, recommend Wilson for every n). It never leaves [0, 1] and is sensible at
  k = 0 or n, unlike the normal (Wald) interval. Checked against ``scipy.stats.binomtest``.
- ``paired_difference_interval``: the difference of two accuracies measured on the *same* points
  (peak step vs final step of a run), from the per-sample outcomes: Newcombe's square-and-add
  interval for paired proportions (Newcombe, Statistics in Medicine 1998, 17:2635, method 10), built
  from the two Wilson intervals and the correlation of the paired outcomes. Paired outcomes of one
  model at two steps are strongly correlated, so the paired interval is much narrower than treating
  the two accuracies as independent.
- ``difference_interval_from_counts``: the fallback for runs without per-sample outcomes, where only
  the two counts are known: the same interval with the correlation set to 0 (Newcombe's unpaired
  method). Positive correlation only narrows the true interval, so this one is conservative.
- ``mean_interval``: mean and 95% Student-t interval over seeds.
- ``bootstrap_rng`` / ``resample_indices`` / ``percentile_interval``: seeded bootstrap helpers; the
  same seed gives the same resamples, so reports are reproducible.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm, t as student_t

from rftlib.core.errors import RftError

CONFIDENCE = 0.95


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise RftError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return float(norm.ppf(0.5 + confidence / 2))


def _counts(k: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    if np.any(n < 0) or np.any(k < 0) or np.any(k > n):
        raise RftError(f"need counts 0 <= k <= n, got k={k.tolist()}, n={n.tolist()}")
    return k, n


def wilson_interval(k: Any, n: Any, confidence: float = CONFIDENCE) -> tuple[Any, Any]:
    """The Wilson score interval (low, high) for k successes out of n; arrays broadcast.

    n = 0 gives (nan, nan): no points, no information.
    """
    k, n = _counts(k, n)
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
        low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    # At k = 0 (k = n) the exact bound is 0 (1); rounding must not leave it a hair away.
    low, high = np.where(k == 0, 0.0, low), np.where(k == n, 1.0, high)
    low, high = np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)
    return (float(low), float(high)) if low.ndim == 0 else (low, high)


def _square_and_add(p1: float, p2: float, n: int, phi: float, confidence: float) -> tuple[float, float, float]:
    l1, u1 = wilson_interval(round(p1 * n), n, confidence)
    l2, u2 = wilson_interval(round(p2 * n), n, confidence)
    diff = p1 - p2
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return diff, max(-1.0, diff - below), min(1.0, diff + above)


def paired_table(first: Any, second: Any) -> tuple[int, int, int, int]:
    """Counts (both right, first only, second only, both wrong) of two boolean outcome arrays on the
    same points, in the same order."""
    first, second = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if first.shape != second.shape or first.ndim != 1 or len(first) == 0:
        raise RftError(f"paired outcomes need two non-empty 1-d arrays of the same length, got shapes "
                       f"{first.shape} and {second.shape}")
    return (int(np.sum(first & second)), int(np.sum(first & ~second)), int(np.sum(~first & second)),
            int(np.sum(~first & ~second)))


def paired_difference_interval(first: Any, second: Any, confidence: float = CONFIDENCE
                               ) -> tuple[float, float, float]:
    """(difference, low, high) of accuracy(first) - accuracy(second) for boolean outcomes of the
    same points: Newcombe's paired square-and-add interval (method 10, see the module docstring)."""
    a, b, c, d = paired_table(first, second)
    n = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    # The correlation of the paired outcomes; 0 when a margin is empty (Newcombe's convention).
    phi = (a * d - b * c) / math.sqrt(margins) if margins > 0 else 0.0
    return _square_and_add((a + b) / n, (a + c) / n, n, phi, confidence)


def difference_interval_from_counts(k1: int, k2: int, n: int, confidence: float = CONFIDENCE
                                    ) -> tuple[float, float, float]:
    """(difference, low, high) of k1/n - k2/n when only the counts are known (no per-sample
    outcomes): the paired interval with zero correlation, which is conservative for outcomes of the
    same points (they correlate positively)."""
    k1, k2, n = int(k1), int(k2), int(n)
    if n < 1 or not (0 <= k1 <= n and 0 <= k2 <= n):
        raise RftError(f"need counts 0 <= k1, k2 <= n with n >= 1, got k1={k1}, k2={k2}, n={n}")
    return _square_and_add(k1 / n, k2 / n, n, 0.0, confidence)


def mean_interval(values: Any, confidence: float = CONFIDENCE) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the finite values, with a Student-t interval (n - 1 degrees of
    freedom); low and high are NaN with fewer than two values."""
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    n = len(arr)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(arr.mean())
    if n < 2:
        return mean, math.nan, math.nan, 1
    _z(confidence)
    half = float(student_t.ppf(0.5 + confidence / 2, n - 1) * arr.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def bootstrap_rng(seed: int) -> np.random.Generator:
    """The generator every bootstrap here draws from: the same seed, the same resamples."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RftError(f"bootstrap seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), 0xB007])


def resample_indices(rng: np.random.Generator, n: int, replicates: int) -> np.ndarray:
    """(replicates, n) indices drawn with replacement from range(n)."""
    if n < 1 or replicates < 1:
        raise RftError(f"a bootstrap needs n >= 1 items and replicates >= 1, got n={n}, replicates={replicates}")
    return rng.integers(0, n, size=(replicates, n))


def percentile_interval(samples: Any, confidence: float = CONFIDENCE, axis: int = 0) -> tuple[Any, Any]:
    """The (low, high) percentile interval of bootstrap replicates along ``axis`` (NaNs ignored)."""
    _z(confidence)
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(np.asarray(samples, dtype=float), [tail, 100 - tail], axis=axis)
    return (float(low), float(high)) if np.ndim(low) == 0 else (low, high)
