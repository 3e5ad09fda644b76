"""Per-sample norms, steepest-ascent directions and projections onto (Lp ball around x) ∩ [0, 1].

The L2 projection is the usual radial rescaling followed by the box clamp (clamping a point of the
ball towards x can only shorten the perturbation, so the result stays inside both). The L1 one is
exact: Croce and Hein, "Mind the box: l1-APGD for sparse adversarial attacks on image classifiers",
ICML 2021 (https://arxiv.org/abs/2103.01208), Lemma 1, written after the authors' ``L1_projection``
(fra31/auto-attack, ``autopgd_base.py``) so that APGD-L1's iterates agree with theirs.
"""
from __future__ import annotations

import math

import torch


def _column(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def l2_norms(x: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norms, shaped to broadcast against ``x``."""
    return _column((x ** 2).flatten(1).sum(1).sqrt(), x)


def l1_norms(x: torch.Tensor) -> torch.Tensor:
    return _column(x.abs().flatten(1).sum(1), x)


def l2_unit(x: torch.Tensor, tiny: float = 1e-12) -> torch.Tensor:
    """``x`` scaled per sample to unit L2 norm (zero stays zero)."""
    return x / (l2_norms(x) + tiny)


def project_l2(clean: torch.Tensor, points: torch.Tensor, eps: float) -> torch.Tensor:
    """``points`` moved radially into the L2 ball of radius ``eps`` around ``clean``, then into [0, 1]."""
    delta = points - clean
    factor = torch.clamp(eps / l2_norms(delta), max=1.0)  # inf (no perturbation) -> 1
    return (clean + delta * factor).clamp_(0.0, 1.0)


def project_l1(clean: torch.Tensor, delta: torch.Tensor, eps: float) -> torch.Tensor:
    """The correction c such that clean + delta + c is the point of the L1 ball of radius ``eps``
    around ``clean`` intersected with [0, 1] nearest (in L2) to clean + delta.

    The authors' algorithm: the box clips each coordinate first (|c_i| at most what keeps it in [0, 1]);
    where the clipped perturbation still exceeds eps, a bisection over the sorted breakpoints finds the
    soft threshold that brings its L1 norm down to eps exactly.
    """
    x = clean.float().flatten(1)
    y = delta.float().flatten(1)
    sign = y.sign()
    # u <= 0: how far each coordinate must move towards x to re-enter the box; l: down to zero.
    u = torch.minimum(torch.zeros_like(y), torch.minimum(1 - x - y, x + y))
    lower = -y.abs()
    correction = u.clone()

    breaks, order = torch.sort(-torch.cat((u, lower), 1), dim=1)
    next_breaks = torch.cat((breaks[:, 1:], torch.zeros(breaks.shape[0], 1, device=breaks.device)), 1)
    slope = (2 * (order < u.shape[1]).float() - 1).cumsum(dim=1)
    start = -u.sum(dim=1)
    room = eps - y.abs().sum(dim=1)
    totals = start.unsqueeze(-1) + torch.cumsum((next_breaks - breaks) * slope, dim=1)

    over = (start + room < 0).nonzero().squeeze(1)  # still outside the ball after the box clip
    if over.numel():
        low = torch.zeros(over.shape[0], device=x.device)
        high = torch.full_like(low, breaks.shape[1] - 1)
        for _ in range(math.ceil(math.log2(breaks.shape[1]))):
            middle = torch.floor((low + high) / 2)
            below = totals[over, middle.long()] + room[over] < 0
            low = torch.where(below, middle, low)
            high = torch.where(below, high, middle)
        at = low.long()
        threshold = (-totals[over, at] - room[over]) / slope[over, at + 1] + next_breaks[over, at]
        correction[over] = -torch.minimum(torch.maximum(-u[over], threshold.unsqueeze(-1)), -lower[over])
    return (sign * correction).view(clean.shape).to(clean.dtype)


__all__ = ["l1_norms", "l2_norms", "l2_unit", "project_l1", "project_l2"]
