"""The one input check every measure shares: a finite (n, d) feature matrix and n integer labels
of at least two classes, so that bad input fails with one line before any linear algebra runs."""
from __future__ import annotations

import numpy as np

from rftlib.core.errors import RftError


def check_features(features, what: str = "features") -> np.ndarray:
    """``features`` as a float64 (n, d) array; RftError for another shape, no rows, or NaN/inf."""
    array = np.asarray(features.detach().cpu() if hasattr(features, "detach") else features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise RftError(f"{what} must be a non-empty (samples, dimensions) matrix, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise RftError(f"{what} hold NaN or infinite values in {len(rows)} of {len(array)} rows "
                       f"(first: row {rows[0]}); the backbone's features are not finite")
    return array


def check_labelled(features, labels, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(features, labels)``: labels are n integers, at least two distinct classes, and (when
    ``num_classes`` is given) at least as many samples as classes. Returns labels as int64."""
    x = check_features(features)
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if y.ndim != 1 or len(y) != len(x):
        raise RftError(f"labels must be one integer per feature row ({len(x)}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise RftError(f"labels must be integers, got dtype {y.dtype}")
    if num_classes is not None and len(y) < num_classes:
        raise RftError(f"{len(y)} samples for {num_classes} classes: a measure needs at least one sample "
                       f"per class; use a larger subset")
    classes = np.unique(y)
    if len(classes) < 2:
        raise RftError(f"all {len(y)} labels are one class ({classes[0]}); separability needs at least two")
    return x, y.astype(np.int64)


def class_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, codes): the distinct labels and each sample's position among them (0..K-1)."""
    return np.unique(labels, return_inverse=True)


def one_hot(labels: np.ndarray) -> np.ndarray:
    """(n, K) float indicators of each sample's class, the K distinct labels in sorted order."""
    _, codes = class_indices(labels)
    return (codes[:, None] == np.arange(codes.max() + 1)).astype(np.float64)
