"""LogME: the log maximum evidence of a Bayesian linear head on frozen features.

You, Liu, Wang and Long, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021 (arXiv 2102.11005), Eq. 2 and Algorithm 1. For features F (n x d) and the one-hot indicator
y (n) of one class, a linear head y = F w + noise with prior w ~ N(0, I/alpha) and noise
N(0, 1/beta) has the evidence

    log p(y | F, alpha, beta) = n/2 log beta + d/2 log alpha - n/2 log 2 pi
                                - beta/2 ||F m - y||^2 - alpha/2 m'm - 1/2 log |A|,
    A = alpha I + beta F'F,   m = beta A^-1 F'y,

which is the log density of y ~ N(0, F F'/alpha + I/beta). alpha and beta are set to the maximum by
MacKay's fixed point (gamma = sum_i beta s_i / (alpha + beta s_i) over the eigenvalues s_i of F'F;
alpha = gamma / m'm; beta = (n - gamma) / ||F m - y||^2). LogME is the maximum evidence divided by n,
averaged over the classes. Higher: the features explain the labels better (a simpler task for them).
Features are used as given (no centring or scaling, as in the paper); the value does not depend on
their overall scale, since alpha absorbs it.
"""
from __future__ import annotations

import math

import numpy as np

from .checks import check_labelled, class_indices

MAX_ITERATIONS = 200
TOLERANCE = 1e-8  # relative change of alpha / beta at which the fixed point counts as reached


def logme(features, labels) -> float:
    """LogME of ``features`` (n, d) for integer ``labels`` (n): the mean over classes of the maximum
    evidence per sample (see the module docstring; You et al., ICML 2021, Eq. 2)."""
    x, y = check_labelled(features, labels)
    _, codes = class_indices(y)
    # One thin SVD serves every class: in the basis of F's right singular vectors every term of the
    # evidence is a sum over the k = min(n, d) singular values.
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    sigma = s**2
    keep = sigma > sigma.max() * 1e-12  # numerically zero directions add nothing to F'F
    u, sigma = u[:, keep], sigma[keep]
    evidences = [max_evidence(u, sigma, (codes == k).astype(np.float64), x.shape[1])
                 for k in range(codes.max() + 1)]
    return float(np.mean(evidences))


def max_evidence(u: np.ndarray, sigma: np.ndarray, target: np.ndarray, dim: int) -> float:
    """The evidence per sample of one target, maximised over (alpha, beta) by the fixed point.

    ``u`` (n, k) and ``sigma`` (k) are the left singular vectors and the nonzero eigenvalues of F'F;
    ``dim`` is d, the feature dimension (the d - k zero eigenvalues contribute log alpha each)."""
    n, k = u.shape
    projected = u.T @ target
    p2 = projected**2
    outside = max(float(target @ target - p2.sum()), 0.0)  # the part of y no direction of F reaches
    alpha, beta = 1.0, 1.0
    for _ in range(MAX_ITERATIONS):
        ratio = alpha / beta
        gamma = float(np.sum(sigma / (sigma + ratio)))
        m_norm2 = float(np.sum(sigma * p2 / (sigma + ratio) ** 2))
        residual2 = float(np.sum(p2 * (ratio / (sigma + ratio)) ** 2)) + outside
        # Floors keep a perfect fit (residual 0) or an empty head (m = 0) finite.
        alpha = gamma / max(m_norm2, 1e-12)
        beta = max(n - gamma, 1e-12) / max(residual2, 1e-12)
        if abs(alpha / beta - ratio) <= TOLERANCE * ratio:
            break
    ratio = alpha / beta
    m_norm2 = float(np.sum(sigma * p2 / (sigma + ratio) ** 2))
    residual2 = float(np.sum(p2 * (ratio / (sigma + ratio)) ** 2)) + outside
    # log|A| = sum over the k nonzero eigenvalues of log(alpha + beta s) + (d - k) log alpha.
    log_det = float(np.sum(np.log(alpha + beta * sigma))) + (dim - k) * math.log(alpha)
    evidence = (n / 2 * math.log(beta) + dim / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
                - beta / 2 * residual2 - alpha / 2 * m_norm2 - log_det / 2)
    return evidence / n

