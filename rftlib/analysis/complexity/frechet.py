"""The Fréchet distance between Gaussian fits of two feature sets, as in FID.

Dowson and Landau, "The Fréchet distance between multivariate normal distributions", J. Multivariate
Analysis 12(3), 1982; used on network features as the FID by Heusel et al., NeurIPS 2017, Eq. 6:

    d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)),

with mu and S the sample mean and covariance (ddof 1) of each set. Tr((S_a S_b)^(1/2)) is computed as
the sum of the square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), a symmetric positive
semi-definite matrix with the same eigenvalues as S_a S_b: no complex round-off, unlike a general
matrix square root. Here it measures how far downstream features sit from an upstream sample's:
0 for the same distribution, larger for a task further from the pretraining data.
"""
from __future__ import annotations

import numpy as np

from rftlib.core.errors import RftError
from rftlib.analysis.complexity.checks import check_features


def frechet_distance(a, b) -> float:
    """The squared Fréchet distance d^2 between Gaussian fits of feature sets ``a`` (n, d) and
    ``b`` (m, d) (the FID formula, module docstring). Returns d^2, as FID does."""
    a, b = check_features(a, "first feature set"), check_features(b, "second feature set")
    if a.shape[1] != b.shape[1]:
        raise RftError(f"feature sets of different dimensions: {a.shape[1]} and {b.shape[1]}")
    if min(len(a), len(b)) < 2:
        raise RftError(f"a covariance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False, ddof=1), np.cov(b, rowvar=False, ddof=1)
    cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
    root_a = _sqrt_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sum(np.sqrt(np.clip(cross, 0.0, None)))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    return float(max(distance, 0.0))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (eigenvalues below 0 from round-off
    are taken as 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
