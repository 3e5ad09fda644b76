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
                              (axes[1], "robust_accuracy", f"L-inf robust accuracy, eps = {eps:g}")):
        sns.lineplot(rows, x="eta", y=column, hue="k", palette="crest", ax=ax, legend=ax is axes[1])
        ax.axhline(0.99, color="grey", ls=":", lw=1)
        ax.set(title=title, xlabel="eta (strength of the non-robust features)", ylabel="")
    axes[0].set_ylabel("accuracy")
    axes[1].legend(title="k updated", loc="lower right")
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
    ax.legend(fontsize="small", loc="upper right")
    return fig


__all__ = ['theory_curves', 'theory_threshold']
