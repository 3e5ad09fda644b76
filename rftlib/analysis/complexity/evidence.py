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

from rftlib.analysis.complexity.checks import check_labelled, one_hot

MAX_ITERATIONS = 200
TOLERANCE = 1e-8  # relative change of alpha / beta at which the fixed point counts as reached


def logme(features, labels) -> float:
    """LogME of ``features`` (n, d) for integer ``labels`` (n): the mean over classes of the maximum
    evidence per sample (see the module docstring; You et al., ICML 2021, Eq. 2)."""
    x, y = check_labelled(features, labels)
    return float(np.mean(max_evidence(x, one_hot(y))))


def max_evidence(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The evidence per sample of each column of ``targets`` (n, K), maximised over its own (alpha,
    beta) by the fixed point, all columns at once.

    One decomposition F = U S V' serves every target: in the basis of V every term of the evidence is a
    sum over the k <= min(n, d) nonzero eigenvalues s_i^2 of F'F; the d - k zero ones add log alpha each."""
    n, dim = features.shape
    # The eigen-decomposition of the smaller Gram matrix gives the same directions as the SVD, faster.
    gram = features.T @ features if n > dim else features @ features.T
    sigma, vectors = np.linalg.eigh(gram)
    keep = sigma > sigma.max() * 1e-10  # numerically zero directions add nothing to F'F
    sigma, vectors = sigma[keep], vectors[:, keep]
    if n > dim:  # U' y = S^-1 V' F' y
        projected = (vectors.T @ (features.T @ targets)) / np.sqrt(sigma)[:, None]
    else:
        projected = vectors.T @ targets
    sigma = sigma[:, None]
    k = len(sigma)
    p2 = projected**2  # (k, K): each target's energy along each direction
    outside = np.clip(np.sum(targets**2, axis=0) - p2.sum(axis=0), 0.0, None)  # the part no direction reaches

    def terms(ratio):  # m'm and ||F m - y||^2 at alpha / beta = ratio, per target
        return (np.sum(sigma * p2 / (sigma + ratio) ** 2, axis=0),
                np.sum(p2 * (ratio / (sigma + ratio)) ** 2, axis=0) + outside)

    alpha, beta = np.ones(targets.shape[1]), np.ones(targets.shape[1])
    for _ in range(MAX_ITERATIONS):
        ratio = alpha / beta
        gamma = np.sum(sigma / (sigma + ratio), axis=0)
        m_norm2, residual2 = terms(ratio)
        # Floors keep a perfect fit (residual 0) or an empty head (m = 0) finite.
        alpha = gamma / np.maximum(m_norm2, 1e-12)
        beta = np.maximum(n - gamma, 1e-12) / np.maximum(residual2, 1e-12)
        if np.all(np.abs(alpha / beta - ratio) <= TOLERANCE * ratio):
            break
    m_norm2, residual2 = terms(alpha / beta)
    # log|A| = sum over the k nonzero eigenvalues of log(alpha + beta s) + (d - k) log alpha.
    log_det = np.sum(np.log(alpha + beta * sigma), axis=0) + (dim - k) * np.log(alpha)
    evidence = (n / 2 * np.log(beta) + dim / 2 * np.log(alpha) - n / 2 * math.log(2 * math.pi)
                - beta / 2 * residual2 - alpha / 2 * m_norm2 - log_det / 2)
    return evidence / n
