"""Linear separability at step 0: the held-out accuracy a linear head reaches on frozen features
within a fixed, small optimisation budget.

This is linear probing as in Kornblith, Shlens and Le, "Do Better ImageNet Models Transfer Better?",
CVPR 2019 (an L2-regularised multinomial logistic regression on frozen features), shortened to a
budget: ``max_iter`` L-BFGS iterations of scikit-learn's ``LogisticRegression`` on standardised
features, scored by stratified ``folds``-fold cross-validation. The folds are drawn from a seeded
permutation of the samples, independently of the label values, so renaming the classes changes nothing.
Higher: the classes are linearly separable in the pretrained features (a simpler task).
"""
from __future__ import annotations

import warnings

import numpy as np

from rftlib.core.errors import RftError
from rftlib.analysis.complexity.checks import check_labelled, class_indices

FOLDS = 5
MAX_ITER = 100


def probe_fold_accuracies(features, labels, folds: int = FOLDS, max_iter: int = MAX_ITER,
                          seed: int = 0) -> np.ndarray:
    """The held-out accuracy of each cross-validation fold (see the module docstring)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x, y = check_labelled(features, labels)
    _, codes = class_indices(y)
    smallest = np.bincount(codes).min()
    if smallest < 2:
        raise RftError("a class has a single sample: a cross-validated probe needs at least 2 per class; "
                       "use a larger subset")
    folds = int(min(folds, smallest))
    assignment = stratified_folds(codes, folds, seed)
    accuracies = []
    for fold in range(folds):
        held_out = assignment == fold
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
        # One BLAS thread: these fits are small, and threads spinning against busy cores made one 1000 x 96
        # probe take 45 s instead of 0.5 s on a loaded 2-core machine.
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)  # stopping at the budget is the point
            probe.fit(x[~held_out], codes[~held_out])
        accuracies.append(float(np.mean(probe.predict(x[held_out]) == codes[held_out])))
    return np.asarray(accuracies)


def probe_accuracy(features, labels, folds: int = FOLDS, max_iter: int = MAX_ITER, seed: int = 0) -> float:
    """Linear-probe separability: the mean held-out accuracy over the folds (module docstring)."""
    return float(np.mean(probe_fold_accuracies(features, labels, folds, max_iter, seed)))


def stratified_folds(codes: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each sample's fold, 0..folds-1: samples taken in a seeded random order, and the i-th sample of a
    class met goes to fold i mod folds, so each class spreads evenly whatever its label value."""
    order = np.random.default_rng(seed).permutation(len(codes))
    seen = np.zeros(codes.max() + 1, dtype=np.int64)
    assignment = np.empty(len(codes), dtype=np.int64)
    for index in order:
        assignment[index] = seen[codes[index]] % folds
        seen[codes[index]] += 1
    return assignment
