"""Robustness curves: robust accuracy as a function of the radius, and the normalised area under it.

Göpfert, Göpfert and Hammer, "Adversarial robustness curves", ECML-PKDD workshops 2019 / 2020
(https://arxiv.org/abs/1908.00096): one radius says little, a trade-off seen at one may vanish or
reverse at another; the curve over radii shows it all. Its summary here is the normalised area under
the curve from 0 (clean accuracy) to the largest radius, trapezoidal between the measured radii, the
"expected robustness" over radii uniform in [0, r_max] (cf. Ngnawé et al.).

**How it is computed (survivors).** A point broken at radius r is also broken at every larger radius (the
larger ball holds the adversarial point), so the radii are attacked in increasing order and each
attacks only the points that survived the previous one: the curve is monotone by construction and
the work falls with the robust accuracy. A per-radius attack of every point (:func:`per_radius_flags`,
the naive loop, kept for the check and the benchmark) can disagree only where the attack itself is
not monotone (it breaks a point at r and misses it at a larger radius), which tests/test_threat.py
bounds. A minimal-perturbation attack (FAB) was the alternative; the survivors keep the run's own
attack, hence the same threat model as ``adv_acc``.

The area's interval: each point's own area a_i (its robust indicator over radii, integrated the same
way) averages to the curve's area, so a Student-t interval over the points (``rftlib.stats.mean_interval``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rftlib import stats

#: Outcome and record keys: ``curve_<k>`` per radius index k, ``curve_<k>_acc``, ``curve_auc``.
PREFIX = "curve"
#: Keeps the curve's random starts apart from every other stream derived from (seed, step).
SEED_TAG = 0xC0


def outcome_key(index: int) -> str:
    return f"{PREFIX}_{index}"


def survivor_flags(model, images, labels, attacks: Sequence[Callable], generators: Sequence | None = None,
                   predict_context: Callable = contextlib.nullcontext):
    """(R, N) bool tensor: whether each point is still robust at each radius, attacking radius k's points
    with ``attacks[k]`` (increasing radii) only where every smaller radius left them robust.

    ``images`` are points the model classifies correctly (the caller's filter, as for ``adv_acc``);
    ``predict_context`` wraps the predictions on the adversarial points (the run's autocast).
    """
    import torch

    alive = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
    rows = []
    for k, attack in enumerate(attacks):
        todo = alive.nonzero().squeeze(1)
        if todo.numel():
            adversarial = attack(images[todo], labels[todo],
                                 generator=None if generators is None else generators[k])
            with torch.no_grad(), predict_context():
                alive[todo] = model(adversarial).argmax(1) == labels[todo]
        rows.append(alive.clone())
    return torch.stack(rows) if rows else torch.zeros(0, len(labels), dtype=torch.bool)


def per_radius_flags(model, images, labels, attacks: Sequence[Callable], generators: Sequence | None = None):
    """(R, N) bool tensor: the naive curve, every point attacked afresh at every radius."""
    import torch

    rows = []
    for k, attack in enumerate(attacks):
        adversarial = attack(images, labels, generator=None if generators is None else generators[k])
        with torch.no_grad():
            rows.append(model(adversarial).argmax(1) == labels)
    return torch.stack(rows)


def point_areas(clean: np.ndarray, flags: np.ndarray, radii: Sequence[float]) -> np.ndarray:
    """Each point's normalised area under its own curve: ``clean`` (N,) at radius 0, ``flags`` (R, N) at
    ``radii``, trapezoids, divided by the largest radius. The mean over points is the curve's area."""
    values = np.vstack([np.asarray(clean, dtype=float)[None, :], np.asarray(flags, dtype=float)])
    grid = np.concatenate([[0.0], np.asarray(radii, dtype=float)])
    widths = np.diff(grid)[:, None]
    return ((values[1:] + values[:-1]) / 2 * widths).sum(0) / grid[-1]


def curve_record(outcomes: dict[str, np.ndarray], radii: Sequence[float]) -> dict[str, float]:
    """The record's curve columns from an evaluation's outcomes: ``curve_<k>_acc`` and ``curve_auc``."""
    flags = np.array([outcomes[outcome_key(k)] for k in range(len(radii))])
    record = {f"{outcome_key(k)}_acc": float(row.mean()) for k, row in enumerate(flags)}
    record[f"{PREFIX}_auc"] = float(point_areas(outcomes["clean"], flags, radii).mean())
    return record


def curve_summary(outcomes: dict[str, np.ndarray], radii: Sequence[float], norm: str, step: int,
                  confidence: float = stats.CONFIDENCE) -> dict[str, Any]:
    """The summary's ``robustness_curve``: per radius the robust accuracy with its Wilson interval, and
    the normalised area with its Student-t interval over the points."""
    flags = np.array([outcomes[outcome_key(k)] for k in range(len(radii))])
    n = flags.shape[1]
    low, high = stats.wilson_interval(flags.sum(1), n, confidence)
    area, area_low, area_high, _ = stats.mean_interval(point_areas(outcomes["clean"], flags, radii), confidence)
    return {"norm": norm, "radii": [float(r) for r in radii], "step": int(step), "points": int(n),
            "acc": [float(v) for v in flags.mean(1)], "acc_low": [float(v) for v in np.atleast_1d(low)],
            "acc_high": [float(v) for v in np.atleast_1d(high)], "clean_acc": float(outcomes["clean"].mean()),
            "auc": area, "auc_low": area_low, "auc_high": area_high}


__all__ = ["PREFIX", "SEED_TAG", "curve_record", "curve_summary", "outcome_key", "per_radius_flags", "point_areas",
           "survivor_flags"]
