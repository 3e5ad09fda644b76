"""Seeded index splits: the train/validation hold-out and fixed evaluation subsets."""
from __future__ import annotations

import numpy as np
import torch

from rftlib.core.errors import RftError


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held-out) indices of ``range(n)``, ``round(fraction * n)`` of them held out.

    The same seed gives the same indices; indices are sorted so reads from an Arrow file stay local.
    """
    if not 0.0 <= fraction < 1.0:
        raise RftError(f"val_fraction must be in [0, 1), got {fraction!r}")
    n_out = int(round(fraction * n))
    if n_out >= n and n > 0:
        raise RftError(f"val_fraction {fraction} leaves no training examples out of {n}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_out:]), np.sort(order[:n_out])


def eval_subset(dataset, size: int | str | None, seed: int = 0):
    """A fixed, seeded subset of ``size`` examples of ``dataset`` (for cheap repeated evaluation).

    ``size`` None or "all", or at least ``len(dataset)``, gives the whole dataset back. The same
    seed always picks the same examples, so every evaluation of a run sees the same subset.
    """
    if size is None or size == "all":
        return dataset
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise RftError(f"eval subset size must be a positive integer or 'all', got {size!r}")
    n = len(dataset)
    if size >= n:
        return dataset
    indices = np.sort(np.random.default_rng(seed).choice(n, size=int(size), replace=False))
    if hasattr(dataset, "subset"):
        return dataset.subset(indices)
    return torch.utils.data.Subset(dataset, indices.tolist())
