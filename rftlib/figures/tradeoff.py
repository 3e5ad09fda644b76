"""RQ1's figures, one run at a time: its accuracies against step with 95% bands, the robustness peak and
where clean accuracy converged; its own clean/robust Pareto front; robust accuracy under each attack.

Every robust-accuracy axis and legend says what was measured (``robust_label``: the attacks, norm and
radius, from ``rftlib.runs.measures``); the peak is the study's one peak, the evaluation with the highest
``adv_acc`` (the first of equals), as in ``rftlib.analysis.uncertainty.tradeoff_summary``."""
from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rftlib.analysis.results import ATTACK_PREFIX, attack_labels
from rftlib.figures.style import ACCURACY_LABELS, draw_front, legend_below, log_steps, need_columns
from rftlib.stats.pareto import pareto_auc

ROBUST = "robust accuracy"


def wrapped(text: str, width: int = 48) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _finish(fig: plt.Figure, ax: plt.Axes, steps: pd.Series, ylabel: str, title: str | None) -> plt.Figure:
    """The accuracy-against-step figures' common frame: log step axis, [0, 1] with a margin so markers at
    0 and 1 show whole, the title, and the legend below the axes (it never covers a curve)."""
    log_steps(ax, steps)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    legend_below(fig, ax)
    return fig


def tradeoff_markers(records: pd.DataFrame, tol: float = 0.05) -> dict[str, float]:
    """The run's robustness peak (step and ``adv_acc`` of the most robust evaluation, the first of equals)
    and where clean accuracy converges: the first step from which every later evaluation is within ``tol``
    of the last one's clean accuracy."""
    records = need_columns(records, ["step", "clean_acc", "adv_acc"], "tradeoff_markers").sort_values("step")
    records = records.reset_index(drop=True)
    peak = records.loc[records["adv_acc"].idxmax()]
    settled = (records["clean_acc"] >= records["clean_acc"].iloc[-1] - tol)[::-1].cummin()[::-1]
    return {"peak_step": int(peak["step"]), "peak_adv_acc": float(peak["adv_acc"]),
            "converged_step": int(records.loc[settled, "step"].iloc[0])}


def tradeoff_bands(frame: pd.DataFrame, summary: Mapping[str, Any] | None = None, robust_label: str = ROBUST,
                   title: str | None = None) -> plt.Figure:
    """Clean, robust (and OOD) accuracy against step with their 95% Wilson bands (``frame`` from
    ``uncertainty.run_tradeoff``, or records without bands), the robustness peak (dashed) and the step
    where clean accuracy converged (dotted). ``robust_label``: what the robust accuracy measured."""
    frame = need_columns(frame, ["step", "clean_acc", "adv_acc"], "tradeoff_bands").sort_values("step")
    marks = tradeoff_markers(frame)
    fig, ax = plt.subplots(figsize=(7, 4.3))
    labels = {"clean_acc": ACCURACY_LABELS["clean_acc"], "adv_acc": robust_label, "ood_acc": ACCURACY_LABELS["ood_acc"]}
    for metric, color in (("clean_acc", "tab:blue"), ("adv_acc", "tab:orange"), ("ood_acc", "tab:green")):
        if metric not in frame or frame[metric].isna().all():
            continue
        ax.plot(frame["step"], frame[metric], marker="o", ms=4, color=color, label=labels[metric])
        if f"{metric}_low" in frame and frame[f"{metric}_low"].notna().any():
            ax.fill_between(frame["step"], frame[f"{metric}_low"], frame[f"{metric}_high"], color=color, alpha=0.2)
    peak_step = summary["peak_step"] if summary else marks["peak_step"]
    peak_value = summary["peak_adv_acc"] if summary else marks["peak_adv_acc"]
    ax.axvline(peak_step, color="tab:red", ls="--", lw=1,
               label=f"robustness peak: {100 * peak_value:.1f}% at step {peak_step}")
    ax.axvline(marks["converged_step"], color="grey", ls=":", lw=1.5,
               label=f"clean accuracy within 5 points of its last value from step {marks['converged_step']}")
    return _finish(fig, ax, frame["step"], "accuracy (95% band)", title)


def tradeoff_curve(records: pd.DataFrame, robust_label: str = ROBUST, title: str | None = None) -> plt.Figure:
    """``tradeoff_bands`` from a run's records alone (no bands: for runs whose directory is not at hand)."""
    return tradeoff_bands(records, None, robust_label, title)


def run_pareto(records: pd.DataFrame, robust_label: str = ROBUST, title: str | None = None) -> plt.Figure:
    """Every evaluation of one run as a (clean, robust) point coloured by step, and the run's Pareto
    frontier with its area (AUC)."""
    records = need_columns(records, ["step", "clean_acc", "adv_acc"], "run_pareto")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    points = records[["clean_acc", "adv_acc"]].to_numpy()
    draw_front(ax, points, color="black", label="Pareto frontier", fill=True)
    shown = ax.scatter(records["clean_acc"], records["adv_acc"], c=np.log10(records["step"] + 1), cmap="viridis",
                       zorder=3, clip_on=False)
    fig.colorbar(shown, ax=ax, label="log10(step + 1)")
    ax.set(xlim=(0, 1.02), ylim=(0, max(1e-3, float(records["adv_acc"].max())) * 1.1 + 0.02),
           xlabel=ACCURACY_LABELS["clean_acc"], ylabel=wrapped(robust_label, 40),
           title=title or f"Pareto frontier (AUC {pareto_auc(points):.3f})")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def attack_curves(records: pd.DataFrame, names: Mapping[str, str] | None = None, title: str | None = None):
    """One run with several attacks: clean accuracy and the robust accuracy under each attack against step
    (log axis), with their per-point worst case (``adv_acc``) dashed. ``names``: attack label -> what it
    measured ("PGD-3, L∞ 1/255"; default the labels). Returns the matplotlib Figure."""
    labels = attack_labels(c for c in records.columns if not str(c).endswith(("_low", "_high")))
    records = need_columns(records, ["step", "clean_acc", "adv_acc", *(ATTACK_PREFIX + label for label in labels)],
                           "attack_curves").sort_values("step")
    names = dict(names or {})
    fig, ax = plt.subplots(figsize=(7, 4.3))
    ax.plot(records["step"], records["clean_acc"], marker="o", ms=4, color="tab:blue", label="clean accuracy")
    for label, color in zip(labels, ("tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")):
        ax.plot(records["step"], records[ATTACK_PREFIX + label], marker="o", ms=4, color=color,
                label=f"robust accuracy, {names.get(label, label)}")
    ax.plot(records["step"], records["adv_acc"], color="black", ls="--", lw=1.2, label="per-point worst case")
    return _finish(fig, ax, records["step"], "accuracy", title)


__all__ = ["attack_curves", "run_pareto", "tradeoff_bands", "tradeoff_curve", "tradeoff_markers"]
