"""The maximum Fisher's discriminant ratio, F1 of Ho & Basu's data complexity measures.

Ho and Basu, "Complexity Measures of Supervised Classification Problems", IEEE TPAMI 24(3), 2002,
measure F1, in its multi-class form by Mollineda, Sanchez and Sotoca (IbPRIA 2005), as in Lorena et
al., "How Complex is your Classification Problem?", ACM Computing Surveys 52(5), 2019, Eq. 1-2:
for each feature j,

    r_j = sum_k n_k (mu_kj - mu_j)^2 / sum_k sum_{i in k} (x_ij - mu_kj)^2

(between-class over within-class scatter along feature j; mu_kj the mean of class k, mu_j the overall
mean, n_k the class size), and F1 = max_j r_j. This returns that maximum ratio itself, not Lorena et
al.'s 1 / (1 + max_j r_j): higher means better separated (a simpler task). For two classes of equal
size r_j is half of Ho & Basu's (mu_1 - mu_2)^2 / (sigma_1^2 + sigma_2^2). A feature constant within
every class but not across them separates perfectly: its ratio is infinite.
"""
from __future__ import annotations

import numpy as np

from rftlib.analysis.complexity.checks import check_labelled, one_hot


def fisher_ratio(features, labels) -> float:
    """F1: the largest per-feature ratio of between-class to within-class scatter (module docstring)."""
    x, y = check_labelled(features, labels)
    members = one_hot(y)
    codes = members.argmax(axis=1)
    counts = members.sum(axis=0)
    means = members.T @ x / counts[:, None]
    between = counts @ (means - x.mean(axis=0)) ** 2
    within = np.sum((x - means[codes]) ** 2, axis=0)
    # Relative to the feature's total scatter, so float round-off never counts as separation.
    scale = np.sum((x - x.mean(axis=0)) ** 2, axis=0)
    informative = scale > 0
    if not informative.any():
        return 0.0
    with np.errstate(divide="ignore"):
        ratios = np.where(within[informative] > 1e-12 * scale[informative],
                          between[informative] / within[informative], np.inf)
    return float(ratios.max())
