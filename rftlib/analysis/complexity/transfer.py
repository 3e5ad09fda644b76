"""LEEP: the log expected empirical prediction of the upstream head's labels for the downstream ones.

Nguyen, Hassner, Seeger and Archambeau, "LEEP: A New Measure to Evaluate Transferability of Learned
Representations", ICML 2020, Eq. 1-2. With theta(x) the upstream classifier's softmax over its labels
z, on n downstream samples (x_i, y_i):

    P(y, z) = 1/n sum_{i: y_i = y} theta(x_i)_z,   P(y | z) = P(y, z) / sum_y' P(y', z),
    LEEP = 1/n sum_i log( sum_z P(y_i | z) theta(x_i)_z ).

It is at most 0 (the upstream labels predict the downstream ones perfectly) and at least the negative
entropy of the downstream labels when the upstream predictions carry no information about them
(uniform or constant theta). Higher: more transferable (a task closer to what the upstream head knows).
It needs the backbone's own upstream classification head: for weights without one it is unavailable.
"""
from __future__ import annotations

import numpy as np

from rftlib.core.errors import RftError
from rftlib.analysis.complexity.checks import check_labelled, one_hot


def leep(upstream_probabilities, labels) -> float:
    """LEEP of downstream ``labels`` (n) given the upstream head's softmax outputs (n, z) on the same
    samples (module docstring; Nguyen et al., ICML 2020, Eq. 2)."""
    theta, y = check_labelled(upstream_probabilities, labels)
    if theta.min() < 0 or not np.allclose(theta.sum(axis=1), 1.0, atol=1e-4):
        raise RftError("LEEP needs the upstream head's probabilities: non-negative rows summing to 1 (apply softmax)")
    members = one_hot(y)
    codes = members.argmax(axis=1)
    joint = members.T @ theta / len(theta)  # P(y, z)
    marginal = joint.sum(axis=0)
    # An upstream label no sample puts weight on has no conditional; it contributes nothing either.
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    expected = np.sum(theta * conditional[codes], axis=1)  # sum_z P(y_i | z) theta(x_i)_z
    return float(np.mean(np.log(expected)))
