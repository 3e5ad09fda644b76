"""The paper's feature model: why updating more coordinates makes a fine-tuned model easier to attack.

Data (Tsipras et al. 2019; Ilyas et al. 2019). A label y in {-1, +1}, uniform; one *robust*
feature x1 = +y with probability p and -y otherwise (a +-1 value no small perturbation can flip);
and *non-robust* features x_i ~ N(eta * y, 1), i.i.d. given y, each only weakly correlated with the
label (small eta), so an L-infinity perturbation of size eps > eta can reverse its mean.

Classifier. The paper writes the fine-tuned model as sign((w0 + dw)^T x) with k = ||dw||_0 and
states that 99% accuracy needs eta >= Phi^-1(0.99) / sqrt(k + d). A linear classifier that sums m
i.i.d. N(eta y, 1) features with equal weights has margin y * score ~ N(eta * m, m), hence accuracy
Phi(eta * sqrt(m)); the bound is this with m = k + d. The simplest model in which the fine-tuned
classifier really sums k + d such features, and which we simulate, is:

- the pretrained classifier w0 reads d non-robust features with unit weights (Tsipras et al.'s
  averaging classifier) and the robust feature with weight ``robust_weight`` (0 by default, as in
  the bound's derivation, which counts the non-robust features only);
- fine-tuning switches on k further non-robust coordinates that w0 did not use (dw has unit
  weights there, zeros elsewhere, so ||dw||_0 = k and the supports are disjoint);
- full fine-tuning is k = d (as many updated coordinates as pretrained ones): m = 2d.

So an input has 1 + d + k coordinates: column 0 is x1, columns 1..d the pretrained non-robust
features, columns d+1..d+k those only the update reads. If dw instead re-weighted k of w0's own d
coordinates, the sum would still cover only d i.i.d. features and, by Cauchy-Schwarz, its accuracy
could never exceed Phi(eta * sqrt(d)): the bound's sqrt(k + d) needs k new features.

Attack. For a linear score the worst L-infinity perturbation of size eps moves every coordinate by
eps against the label and lowers the margin by exactly eps * ||w||_1, so robust accuracy is exact.
With robust_weight = 0 it is Phi((eta - eps) * sqrt(k + d)): when eps > eta (the attacks the
non-robust features cannot withstand) it *falls* as k grows, and at the accuracy threshold
eta = Phi^-1(target) / sqrt(k + d) it is Phi(Phi^-1(target) - eps * sqrt(k + d)), falling in k for
every eps > 0. That is the paper's argument: updating more coordinates (full FT) reaches high
accuracy with weaker non-robust features, which are the ones an attacker reverses; a simpler task
(smaller d) needs stronger ones.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from rftlib.core.errors import RftError

DEFAULT_P = 0.95  # Tsipras et al.'s example of a robust feature that alone gives 95% accuracy
CHUNK_ROWS = 20_000  # rows simulated at once, so large n stays within a small memory budget


def _rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise RftError(f"rng must be a numpy Generator, an integer seed or None, got {rng!r}")


def _count(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise RftError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _dk(d: Any, k: Any) -> tuple[int, int]:
    d = _count("d (number of pretrained non-robust features)", d, 1)
    k = _count("k (number of updated coordinates)", k, 0)
    if k > d:
        raise RftError(f"k must be at most d (full fine-tuning is k = d = {d}), got k = {k}")
    return d, k


def _real(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise RftError(f"{name} must be a number, got {value!r}") from None
    if not (low <= value <= high) or math.isnan(value):
        raise RftError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return value


def sample(n: int, d: int, eta: float, p: float = DEFAULT_P, rng: Any = None, *, k: int = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """Draw n examples: X of shape (n, 1 + d + k) and labels y in {-1, +1} of shape (n,).

    Column 0 is the robust feature (+y with probability p, else -y); the other d + k columns are
    N(eta * y, 1). Pass the k of the fine-tuned classifier you will evaluate. The draws are made in
    a fixed order (labels, robust flips, standard normals) with eta added last, so one seed gives
    the same noise for every eta: accuracy curves over eta are then monotone, not jittery.
    """
    n = _count("n", n, 1)
    d, k = _dk(d, k)
    eta = _real("eta", eta)
    p = _real("p", p, 0.0, 1.0)
    gen = _rng(rng)
    y = gen.integers(0, 2, size=n) * 2 - 1
    robust = np.where(gen.random(n) < p, y, -y)
    noise = gen.standard_normal((n, d + k))
    X = np.empty((n, 1 + d + k))
    X[:, 0] = robust
    X[:, 1:] = noise + eta * y[:, None]
    return X, y.astype(float)


def pretrained_weights(d: int, k: int = 0, robust_weight: float = 0.0) -> np.ndarray:
    """w0, of length 1 + d + k: ``robust_weight`` on x1, 1 on the d pretrained non-robust
    features, 0 on the k coordinates only fine-tuning will use."""
    d, k = _dk(d, k)
    w = np.zeros(1 + d + k)
    w[0] = _real("robust_weight", robust_weight)
    w[1 : 1 + d] = 1.0
    return w


def weight_update(d: int, k: int) -> np.ndarray:
    """dw, of length 1 + d + k: 1 on the k new coordinates, 0 elsewhere (so ||dw||_0 = k)."""
    d, k = _dk(d, k)
    dw = np.zeros(1 + d + k)
    dw[1 + d :] = 1.0
    return dw


def finetuned_weights(d: int, k: int, robust_weight: float = 0.0) -> np.ndarray:
    """w0 + dw: the fine-tuned classifier, reading m = d + k non-robust features with unit weight.

    Unit weights are optimal for i.i.d. features of equal eta (the likelihood ratio weights them
    equally) and the scale of w changes neither sign(w^T x) nor the L-infinity attack, so eta is
    not needed here. k = 0 is the pretrained classifier; k = d is full fine-tuning.
    """
    return pretrained_weights(d, k, robust_weight) + weight_update(d, k)


def _check_wxy(w: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, X, y = np.asarray(w, dtype=float), np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if w.ndim != 1 or X.ndim != 2 or y.ndim != 1 or X.shape != (len(y), len(w)):
        raise RftError(
            f"need w of shape (D,), X of shape (n, D) and y of shape (n,); got {w.shape}, {X.shape}, "
            f"{y.shape} (sample with the same d and k as the weights)"
        )
    return w, X, y


def accuracy(w: Any, X: Any, y: Any) -> float:
    """Fraction of examples with sign(w^T x) == y; a score of exactly 0 counts as an error."""
    w, X, y = _check_wxy(w, X, y)
    return float(np.mean(y * (X @ w) > 0))


def linf_robust_accuracy(w: Any, X: Any, y: Any, eps: Any) -> Any:
    """Accuracy under the worst L-infinity perturbation of size eps, exact for a linear model.

    The adversary moves every coordinate by eps against the label, lowering the margin
    y * w^T x by eps * ||w||_1. ``eps`` may be a number (returns a float) or an array of them
    (returns an array of the same shape), so one pass over X serves a whole curve.
    """
    w, X, y = _check_wxy(w, X, y)
    eps_arr = np.asarray(eps, dtype=float)
    if np.isnan(eps_arr).any() or (eps_arr < 0).any():
        raise RftError(f"eps must be >= 0, got {eps!r}")
    margins = y * (X @ w)
    shift = eps_arr.reshape(-1, 1) * np.abs(w).sum()
    result = np.mean(margins[None, :] - shift > 0, axis=1).reshape(eps_arr.shape)
    return float(result) if result.ndim == 0 else result


def eta_bound(d: int, k: int, target: float = 0.99) -> float:
    """The paper's bound: the smallest eta with accuracy ``target``, Phi^-1(target) / sqrt(k + d)
    (2.33 / sqrt(k + d) for 99%)."""
    d, k = _dk(d, k)
    target = _real("target accuracy", target, 0.5, 1.0)
    if target >= 1.0:
        raise RftError("target accuracy must be below 1 (100% needs an infinite eta)")
    return float(norm.ppf(target) / math.sqrt(k + d))


def analytic_accuracy(d: int, k: int, eta: float, eps: float = 0.0, p: float = DEFAULT_P,
                      robust_weight: float = 0.0) -> float:
    """Closed-form (robust) accuracy of ``finetuned_weights(d, k, robust_weight)``.

    With m = d + k and a = robust_weight, the attacked margin is a*s + eta*m + sqrt(m)*Z -
    eps*(|a| + m) with s = +1 w.p. p, -1 otherwise, Z ~ N(0, 1); for a = 0 this is
    Phi((eta - eps) * sqrt(m)), and at eps = 0 the accuracy Phi(eta * sqrt(d + k)) behind
    ``eta_bound``.
    """
    d, k = _dk(d, k)
    eta, eps = _real("eta", eta), _real("eps", eps, 0.0)
    p, a = _real("p", p, 0.0, 1.0), _real("robust_weight", robust_weight)
    m = d + k
    centre = eta * m - eps * (abs(a) + m)
    if a == 0:
        return float(norm.cdf(centre / math.sqrt(m)))
    return float(p * norm.cdf((centre + a) / math.sqrt(m)) + (1 - p) * norm.cdf((centre - a) / math.sqrt(m)))


def _margins_at_zero_eta(d: int, k: int, n: int, p: float, robust_weight: float, seed: int) -> np.ndarray:
    """Margins y * w^T x of the fine-tuned classifier on n examples drawn with eta = 0, in chunks."""
    w = finetuned_weights(d, k, robust_weight)
    gen = np.random.default_rng(seed)
    parts = []
    for start in range(0, n, CHUNK_ROWS):
        X, y = sample(min(CHUNK_ROWS, n - start), d, 0.0, p, gen, k=k)
        parts.append(y * (X @ w))
    return np.concatenate(parts)


def simulated_accuracy(d: int, k: int, eta: float, eps: float = 0.0, n: int = 200_000, p: float = DEFAULT_P,
                       robust_weight: float = 0.0, seed: int = 0) -> float:
    """(Robust) accuracy of ``finetuned_weights(d, k, robust_weight)`` on n simulated examples.

    The same draws as ``accuracy_threshold_eta`` with the same seed (chunked, so n can be large):
    evaluating at its returned eta reproduces the target accuracy.
    """
    d, k = _dk(d, k)
    n, seed = _count("n", n, 1), _count("seed", seed)
    eta, eps = _real("eta", eta), _real("eps", eps, 0.0)
    base = _margins_at_zero_eta(d, k, n, p, robust_weight, seed)
    l1 = abs(robust_weight) + d + k
    return float(np.mean(base + eta * (d + k) - eps * l1 > 0))


def accuracy_threshold_eta(d: int, k: int, target: float = 0.99, n: int = 200_000, p: float = DEFAULT_P,
                           robust_weight: float = 0.0, seed: int = 0) -> float:
    """The smallest eta at which the simulated fine-tuned classifier reaches ``target`` accuracy.

    One fixed-seed sample of n examples is drawn; adding eta to the non-robust features raises
    every margin by eta * (d + k) (y^2 = 1), so accuracy is a monotone step function of eta and
    its threshold is read off the order statistics of the eta = 0 margins exactly: the value a
    bisection on the simulation would converge to. Compare with ``eta_bound(d, k, target)``;
    the simulation error is about sqrt(t(1-t)/n) / (phi(Phi^-1(t)) * sqrt(d + k)) for t = target.
    Returns 0.0 when the robust feature alone already reaches the target.
    """
    d, k = _dk(d, k)
    n = _count("n", n, 1)
    target = _real("target accuracy", target, 0.0, 1.0)
    if target >= 1.0 or target <= 0.0:
        raise RftError(f"target accuracy must lie strictly between 0 and 1, got {target}")
    base = np.sort(_margins_at_zero_eta(d, k, n, p, robust_weight, seed))[::-1]
    # Accuracy at eta is #{base > -eta * m} / n; it reaches the target once the j-th largest
    # base margin turns positive, j = ceil(target * n) (the small tolerance absorbs float error).
    j = math.ceil(target * n - 1e-9)
    return max(0.0, float(-base[j - 1] / (d + k)))


def sweep(ds: Iterable[int], ks: Iterable[int], etas: Iterable[float] | None = None,
          epss: Iterable[float] = (0.0,), n: int = 20_000, p: float = DEFAULT_P,
          robust_weight: float = 0.0, target: float = 0.99, seed: int = 0) -> pd.DataFrame:
    """Simulated accuracy and L-infinity robust accuracy over a grid, as tidy rows for plotting.

    Columns: d, k, eta, eps, accuracy, robust_accuracy (simulated, n examples), then eta_bound
    (the paper's bound for this d, k and ``target``), analytic_accuracy and
    analytic_robust_accuracy (closed forms). ``etas=None`` evaluates each (d, k) at its own
    eta_bound, the setting of the paper's argument. Pairs with k > d are skipped, so one list of
    ks serves several ds. Every eta of a (d, k) reuses the same noise (seed, d, k), so curves are
    smooth in eta; accuracy does not depend on eps and repeats along it.
    """
    epss = [_real("eps", e, 0.0) for e in epss]
    if not epss:
        raise RftError("epss must hold at least one eps (0 for clean accuracy only)")
    seed = _count("seed", seed)
    rows = []
    for d in ds:
        for k in ks:
            d_, k_ = _count("d", d, 1), _count("k", k, 0)
            if k_ > d_:
                continue
            bound = eta_bound(d_, k_, target)
            w = finetuned_weights(d_, k_, robust_weight)
            for eta in ([bound] if etas is None else etas):
                X, y = sample(n, d_, eta, p, np.random.default_rng([seed, d_, k_]), k=k_)
                acc = accuracy(w, X, y)
                robust = linf_robust_accuracy(w, X, y, np.array(epss))
                for eps, rob in zip(epss, robust):
                    rows.append(dict(
                        d=d_, k=k_, eta=float(eta), eps=eps, accuracy=acc, robust_accuracy=float(rob),
                        eta_bound=bound,
                        analytic_accuracy=analytic_accuracy(d_, k_, eta, 0.0, p, robust_weight),
                        analytic_robust_accuracy=analytic_accuracy(d_, k_, eta, eps, p, robust_weight),
                    ))
    columns = ["d", "k", "eta", "eps", "accuracy", "robust_accuracy", "eta_bound",
               "analytic_accuracy", "analytic_robust_accuracy"]
    return pd.DataFrame(rows, columns=columns)


def threshold_table(ds: Iterable[int], ks: Iterable[int], n: int = 20_000, target: float = 0.99,
                    seed: int = 0) -> pd.DataFrame:
    """For each d and k <= d: the smallest eta at which the simulated classifier reaches ``target``
    accuracy, beside the paper's bound Phi^-1(target) / sqrt(k + d)."""
    rows = [dict(d=d, k=k, simulated=accuracy_threshold_eta(d, k, target, n=n, seed=seed), bound=eta_bound(d, k, target))
            for d in ds for k in ks if k <= d]
    return pd.DataFrame(rows, columns=["d", "k", "simulated", "bound"])


def threshold_robustness(d: int, ks: Iterable[int], eps: float, target: float = 0.99, n: int = 20_000,
                         p: float = DEFAULT_P, seed: int = 0) -> pd.DataFrame:
    """Robust accuracy at the clean-accuracy threshold, per k: each k's classifier at the smallest eta
    that gives it ``target`` accuracy. Columns: d, k, eps, eta (the simulated threshold,
    ``accuracy_threshold_eta``), eta_bound (Phi^-1(target) / sqrt(k + d)), robust_accuracy (simulated
    on the same draws) and analytic_robust_accuracy (Phi(Phi^-1(target) - eps * sqrt(k + d)), the
    closed form at the bound). Pairs with k > d are skipped."""
    eps = _real("eps", eps, 0.0)
    rows = []
    for k in ks:
        d_, k_ = _count("d", d, 1), _count("k", k, 0)
        if k_ > d_:
            continue
        eta = accuracy_threshold_eta(d_, k_, target, n=n, p=p, seed=seed)
        bound = eta_bound(d_, k_, target)
        rows.append(dict(d=d_, k=k_, eps=eps, eta=eta, eta_bound=bound,
                         robust_accuracy=simulated_accuracy(d_, k_, eta, eps, n=n, p=p, seed=seed),
                         analytic_robust_accuracy=analytic_accuracy(d_, k_, bound, eps, p)))
    return pd.DataFrame(rows, columns=["d", "k", "eps", "eta", "eta_bound", "robust_accuracy",
                                       "analytic_robust_accuracy"])


def claim_numbers(d: int, ks: Iterable[int], eps: float, eta_above: float | None = None, target: float = 0.99,
                  p: float = DEFAULT_P) -> dict[str, Any]:
    """The theory's claim in numbers (closed forms, robust_weight 0), for the smallest and largest k:
    at eta = eps every k's robust accuracy is Phi(0) = 0.5 (the curves cross); at ``eta_above`` (> eps;
    default the largest k's threshold eta, the weakest features that k still fits) the larger k is
    more robust; at each k's own ``target``-accuracy threshold the larger k is less robust."""
    ks = sorted(_count("k", k, 0) for k in ks)
    if len(ks) < 2:
        raise RftError(f"claim_numbers needs at least two values of k, got {ks}")
    eps = _real("eps", eps, 0.0)
    low, high = ks[0], ks[-1]
    eta_above = eta_bound(d, high, target) if eta_above is None else _real("eta_above", eta_above)
    if eta_above <= eps:
        raise RftError(f"eta_above must exceed eps = {eps:g} (above the crossing), got {eta_above:g}")
    return dict(
        d=d, eps=eps, target=target, k_low=low, k_high=high, eta_above=eta_above,
        crossing=analytic_accuracy(d, low, eps, eps, p),
        above_low=analytic_accuracy(d, low, eta_above, eps, p), above_high=analytic_accuracy(d, high, eta_above, eps, p),
        threshold_eta_low=eta_bound(d, low, target), threshold_eta_high=eta_bound(d, high, target),
        threshold_low=analytic_accuracy(d, low, eta_bound(d, low, target), eps, p),
        threshold_high=analytic_accuracy(d, high, eta_bound(d, high, target), eps, p))


def claim_sentence(numbers: dict[str, Any]) -> str:
    """``claim_numbers`` as the report's sentence."""
    c = numbers
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    return (f"With d = {c['d']} non-robust features and an L-inf attack of eps = {c['eps']:g}, robust accuracy "
            f"against eta is the same for every k at eta = eps ({pct(c['crossing'])}): the curves cross there. "
            f"Above it, at eta = {c['eta_above']:.3f}, updating k = {c['k_high']} coordinates gives {pct(c['above_high'])} "
            f"against {pct(c['above_low'])} for k = {c['k_low']}. But each k fits the data "
            f"({pct(c['target'])} clean accuracy) with weaker features the more coordinates it updates "
            f"(eta = {c['threshold_eta_high']:.3f} for k = {c['k_high']}, {c['threshold_eta_low']:.3f} for k = {c['k_low']}), "
            f"closer to eps: at that threshold robust accuracy falls from {pct(c['threshold_low'])} (k = {c['k_low']}) "
            f"to {pct(c['threshold_high'])} (k = {c['k_high']}).")
