"""The theory report's figures: robust and clean accuracy against the perturbation budget for each k, and
robust accuracy at the clean-accuracy threshold (frames of ``rftlib.analysis.theory``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rftlib.figures.style import need_columns


def theory_curves(frame: pd.DataFrame) -> plt.Figure:
    """Simulated accuracy and L-inf robust accuracy against eta, one curve per k (``rftlib.analysis.theory.sweep``
    rows of one d; robust accuracy at the frame's largest eps), with the 99% line."""
    frame = need_columns(frame, ["d", "k", "eta", "eps", "accuracy", "robust_accuracy"], "theory_curves")
    eps = frame["eps"].max()
    rows = frame[frame["eps"] == eps]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, column, title in ((axes[0], "accuracy", "accuracy"),
                              (axes[1], "robust_accuracy", f"robust accuracy, exact L∞ attack, ε = {eps:g}")):
        sns.lineplot(rows, x="eta", y=column, hue="k", palette="crest", ax=ax, legend=ax is axes[1])
        ax.axhline(0.99, color="grey", ls=":", lw=1)
        ax.set(title=title, xlabel="eta (strength of the non-robust features)", ylabel="")
    axes[0].set_ylabel("accuracy")
    axes[1].legend(title="k updated", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.suptitle(f"Feature model, d = {', '.join(map(str, sorted(frame['d'].unique())))} non-robust features")
    fig.tight_layout()
    return fig


def theory_threshold(table: pd.DataFrame) -> plt.Figure:
    """The simulated accuracy threshold on eta (points) against the bound 2.33 / sqrt(k + d) (lines),
    over k for each d: more updated coordinates accept weaker, more attackable features."""
    table = need_columns(table, ["d", "k", "simulated", "bound"], "theory_threshold")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    palette = dict(zip(sorted(table["d"].unique()), sns.color_palette("flare", table["d"].nunique())))
    for d, rows in table.groupby("d"):
        ax.plot(rows["k"], rows["bound"], color=palette[d], lw=1.5, label=f"d = {d}: 2.33/sqrt(k+d)")
        ax.scatter(rows["k"], rows["simulated"], color=palette[d], marker="o", s=30, label=f"d = {d}: simulated")
    ax.set(xlabel="k (coordinates updated by fine-tuning)", ylabel="eta needed for 99% accuracy",
           title="Accuracy threshold on eta: simulation against the bound")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)  # beside, over nothing
    return fig


def theory_claim(curves: pd.DataFrame, thresholds: pd.DataFrame) -> plt.Figure:
    """The claim in one figure. Left: robust accuracy against eta, one curve per k (``theory.sweep`` rows of
    one d at one eps > 0), crossing at eta = eps; each k's clean-accuracy threshold (``theory.threshold_robustness``)
    marked on its curve. Right: robust accuracy at that threshold against k (simulated points, closed-form
    line): the weaker features a larger k fits with are the ones the attack reverses."""
    curves = need_columns(curves, ["d", "k", "eta", "eps", "robust_accuracy"], "theory_claim")
    thresholds = need_columns(thresholds, ["k", "eps", "eta", "robust_accuracy", "analytic_robust_accuracy"],
                              "theory_claim")
    eps = float(thresholds["eps"].iloc[0])
    rows = curves[curves["eps"] == eps]
    if rows.empty:
        raise ValueError(f"theory_claim: the curves hold no rows at the thresholds' eps = {eps:g}")
    ks = sorted(rows["k"].unique())
    palette = dict(zip(ks, sns.color_palette("crest", len(ks))))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, curve in rows.groupby("k"):
        left.plot(curve["eta"], curve["robust_accuracy"], color=palette[k], lw=1.6, label=f"k = {k}")
    marks = thresholds[thresholds["k"].isin(ks)]
    left.scatter(marks["eta"], marks["robust_accuracy"], c=[palette[k] for k in marks["k"]], edgecolor="black",
                 zorder=3, s=40, label="each k at its clean-accuracy threshold")
    left.axvline(eps, color="grey", ls="--", lw=1)
    left.annotate(f"eta = eps = {eps:g}: every k crosses", (eps, 0.5), xytext=(12, -45), textcoords="offset points",
                  fontsize="small", arrowprops=dict(arrowstyle="->", color="grey"))
    left.set(xlabel="eta (strength of the non-robust features)", ylabel=f"robust accuracy (L-inf, eps = {eps:g})",
             title="Robust accuracy against eta, per k")
    left.legend(fontsize="small", loc="lower right", framealpha=0.95)  # the threshold points sit top middle
    right.plot(thresholds["k"], thresholds["analytic_robust_accuracy"], color="grey", lw=1.5,
               label="closed form at the bound")
    right.scatter(thresholds["k"], thresholds["robust_accuracy"], color="black", s=30, zorder=3, label="simulated")
    right.set(xlabel="k (coordinates updated by fine-tuning)", ylabel="robust accuracy at the threshold",
              title="At the clean-accuracy threshold: more updates, less robust")
    right.legend(fontsize="small")
    fig.suptitle(f"Feature model, d = {', '.join(map(str, sorted(curves['d'].unique())))}")
    fig.tight_layout()
    return fig


__all__ = ['theory_claim', 'theory_curves', 'theory_threshold']
