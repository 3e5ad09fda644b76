"""RQ1's figures, one run at a time: accuracies against step (with 95% bands and the verdict), the run's
own clean/robust Pareto front, and robust accuracy under each attack."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from rftlib.analysis.results import ATTACK_PREFIX, attack_labels
from rftlib.stats.pareto import pareto_auc
from rftlib.figures.style import ACCURACY_LABELS, draw_front, log_steps, need_columns


def tradeoff_markers(records: pd.DataFrame, tol: float = 0.05) -> dict[str, float]:
    """The run's robustness peak (step and PGD accuracy of the most robust evaluation, the first of
    equals) and where clean accuracy converges: the first step from which every later evaluation is
    within ``tol`` of the last one's clean accuracy."""
    records = need_columns(records, ["step", "clean_acc", "adv_acc"], "tradeoff_markers").sort_values("step")
    peak = records.loc[records["adv_acc"].idxmax()]
    settled = (records["clean_acc"] >= records["clean_acc"].iloc[-1] - tol)[::-1].cummin()[::-1]
    return {"peak_step": int(peak["step"]), "peak_adv_acc": float(peak["adv_acc"]),
            "converged_step": int(records.loc[settled, "step"].iloc[0])}


def tradeoff_curve(records: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Clean and PGD accuracy against step (log axis) for one run, with the robustness peak and
    the step where clean accuracy converges marked."""
    records = need_columns(records, ["step", "clean_acc", "adv_acc"], "tradeoff_curve")
    long = records.melt(id_vars="step", value_vars=["clean_acc", "adv_acc"], var_name="metric", value_name="accuracy")
    long["metric"] = long["metric"].map(ACCURACY_LABELS)
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(long, x="step", y="accuracy", hue="metric", marker="o", ax=ax)
    marks = tradeoff_markers(records)
    ax.axvline(marks["peak_step"], color="tab:red", ls="--", lw=1,
               label=f"robustness peak: {marks['peak_adv_acc']:.3f} at step {marks['peak_step']}")
    ax.axvline(marks["converged_step"], color="grey", ls=":", lw=1.5,
               label=f"clean accuracy converged: step {marks['converged_step']}")
    log_steps(ax, records["step"])
    ax.set_ylim(0, 1)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or "Accuracy and robustness during fine-tuning")
    return fig


def run_pareto(records: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Every evaluation of one run as a (clean, robust) point coloured by step, and the run's Pareto
    frontier with its area (AUC)."""
    records = need_columns(records, ["step", "clean_acc", "adv_acc"], "run_pareto")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    points = ax.scatter(records["clean_acc"], records["adv_acc"], c=np.log10(records["step"] + 1), cmap="viridis")
    fig.colorbar(points, ax=ax, label="log10(step + 1)")
    points = records[["clean_acc", "adv_acc"]].to_numpy()
    draw_front(ax, points, color="black", label="Pareto frontier", fill=True)
    auc = pareto_auc(points)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=ACCURACY_LABELS["clean_acc"], ylabel=ACCURACY_LABELS["adv_acc"],
           title=title or f"Pareto frontier (AUC {auc:.3f})")
    ax.legend(loc="upper left")
    return fig


def tradeoff_bands(frame: pd.DataFrame, summary: Mapping[str, Any], title: str | None = None) -> plt.Figure:
    """Clean, PGD (and OOD) accuracy against step with their 95% Wilson bands (``frame`` from
    ``uncertainty.run_tradeoff``), the robustness peak and the final step marked, and the verdict of
    ``uncertainty.tradeoff_summary`` in the title."""
    frame = need_columns(frame, ["step", "clean_acc", "adv_acc"], "tradeoff_bands").sort_values("step")
    fig, ax = plt.subplots(figsize=(7, 4))
    for metric, color in (("clean_acc", "tab:blue"), ("adv_acc", "tab:orange"), ("ood_acc", "tab:green")):
        if metric not in frame or frame[metric].isna().all():
            continue
        ax.plot(frame["step"], frame[metric], marker="o", color=color, label=ACCURACY_LABELS[metric])
        if f"{metric}_low" in frame and frame[f"{metric}_low"].notna().any():
            ax.fill_between(frame["step"], frame[f"{metric}_low"], frame[f"{metric}_high"], color=color, alpha=0.2)
    ax.axvline(summary["peak_step"], color="tab:red", ls="--", lw=1, label=f"robustness peak (step {summary['peak_step']})")
    log_steps(ax, frame["step"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% band)")
    ax.legend(loc="best", fontsize="small")
    drop = f"drop {100 * summary['drop']:.1f} pts"
    if np.isfinite(summary.get("drop_low", np.nan)):
        drop += f" [{100 * summary['drop_low']:.1f}, {100 * summary['drop_high']:.1f}]"
    ax.set_title(f"{title or 'Accuracy and robustness'}\n{drop}; verdict: {summary['verdict']}", fontsize="medium")
    return fig


def attack_curves(records: pd.DataFrame, title: str | None = None):
    """One run: clean accuracy and the robust accuracy under each attack against step (log axis), with
    the worst case over the attacks dashed. Returns the matplotlib Figure."""
    labels = attack_labels(records.columns)
    records = need_columns(records, ["step", "clean_acc", "adv_acc", *(ATTACK_PREFIX + label for label in labels)],
                    "attack_curves")
    names = {"clean_acc": "clean", **{ATTACK_PREFIX + label: label for label in labels}}
    long = records.melt(id_vars="step", value_vars=list(names), var_name="measure", value_name="accuracy")
    long["measure"] = long["measure"].map(names)
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(long, x="step", y="accuracy", hue="measure", marker="o", ax=ax)
    if len(labels) > 1:
        ax.plot(records["step"], records["adv_acc"], color="black", ls="--", lw=1, label="worst case")
    log_steps(ax, records["step"])
    ax.set_ylim(0, 1)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or "Robust accuracy under each attack")
    return fig


__all__ = ['attack_curves', 'run_pareto', 'tradeoff_bands', 'tradeoff_curve', 'tradeoff_markers']
