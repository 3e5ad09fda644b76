"""The theory report's opening: in the feature model, updating more coordinates reaches 99% accuracy with
weaker non-robust features (the simulated threshold against the paper's bound, with the simulation's 95%
error), and at its own threshold each k keeps less robustness under an L∞ attack."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from rftlib import stats
from rftlib.analysis import theory
from rftlib.analysis.findings import Findings, pct, span

Z = 1.959963984540054


def threshold_error(d: int, k: int, n: int, target: float = 0.99) -> float:
    """Half-width of the 95% interval of a simulated threshold on n examples (``accuracy_threshold_eta``'s
    error, sqrt(t(1 - t)/n) / (phi(Phi^-1(t)) sqrt(d + k)), times 1.96)."""
    return Z * math.sqrt(target * (1 - target) / n) / (norm.pdf(norm.ppf(target)) * math.sqrt(d + k))


def threshold_rows(table: pd.DataFrame, n: int, target: float = 0.99) -> pd.DataFrame:
    """``theory.threshold_table`` with each simulated threshold's 95% interval and whether the bound is in it."""
    table = table.copy()
    table["error"] = [threshold_error(d, k, n, target) for d, k in zip(table["d"], table["k"])]
    table["low"], table["high"] = table["simulated"] - table["error"], table["simulated"] + table["error"]
    table["bound_inside"] = (table["low"] <= table["bound"]) & (table["bound"] <= table["high"])
    return table


def threshold_text(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The threshold table as the report shows it: simulated η [95%] beside the bound."""
    rows = threshold_rows(table, n)
    return pd.DataFrame({"d": rows["d"], "k": rows["k"],
                         "simulated η for 99% [95%]": [f"{s:.3f} [{lo:.3f}, {hi:.3f}]" for s, lo, hi in
                                                       zip(rows["simulated"], rows["low"], rows["high"])],
                         "bound 2.33/√(k+d)": rows["bound"].round(3),
                         "bound inside": rows["bound_inside"].map({True: "yes", False: "no"})}).set_index(["d", "k"])


def theory_findings(d: int, ks: list[int], eps: float, n: int, table: pd.DataFrame) -> Findings:
    """The opening: the threshold at ``d`` for the smallest and largest k, the bound's fit over ``table``
    (``theory.threshold_table`` with n examples), and robust accuracy at each k's own threshold."""
    rows = threshold_rows(table, n)
    ks = sorted(k for k in ks if k <= d)
    first, last = ks[0], ks[-1]
    at_d = rows[rows["d"] == d].set_index("k")
    sentences = []
    if first in at_d.index and last in at_d.index:
        a, b = at_d.loc[first], at_d.loc[last]
        sentences.append(
            f"Updating more coordinates reaches 99% accuracy with weaker non-robust features: at d = {d} the simulated "
            f"threshold on η falls from {a['simulated']:.3f} [{a['low']:.3f}, {a['high']:.3f}] (k = {first}) to "
            f"{b['simulated']:.3f} [{b['low']:.3f}, {b['high']:.3f}] (k = {last}), against the bound 2.33/√(k+d) of "
            f"{a['bound']:.3f} and {b['bound']:.3f}.")
    inside = int(rows["bound_inside"].sum())
    sentences.append(f"Over all {len(rows)} (d, k) pairs the bound lies within the simulation's 95% interval in {inside} "
                     f"({n} simulated examples each; largest gap {np.max(np.abs(rows['simulated'] - rows['bound'])):.4f}).")
    robust = []
    for k in (first, last):
        eta = theory.eta_bound(d, k)
        frame = theory.sweep([d], [k], etas=[eta], epss=[eps], n=n)
        value = float(frame["robust_accuracy"].iloc[0])
        low, high = stats.wilson_interval(round(value * n), n)
        robust.append((k, value, low, high, theory.analytic_accuracy(d, k, eta, eps)))
    (k0, v0, l0, h0, c0), (k1, v1, l1, h1, c1) = robust
    change = "falls" if v1 < v0 else "rises" if v1 > v0 else "stays"
    sentences.append(f"At its own 99% threshold, robust accuracy under an L∞ attack of ε = {eps:g} {change} from "
                     f"{pct(v0)}% {span(l0, h0)} (k = {k0}) to {pct(v1)}% {span(l1, h1)} (k = {k1}); the closed form "
                     f"gives {pct(c0)}% and {pct(c1)}%.")
    return Findings(sentences)


__all__ = ["theory_findings", "threshold_error", "threshold_rows", "threshold_text"]
