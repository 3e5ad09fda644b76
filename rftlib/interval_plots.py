"""Figures with error bars, drawn from the frames of ``rftlib.uncertainty``: a run's accuracies with
95% bands and its verdict (RQ1), and strategies x datasets heatmaps annotated with intervals (RQ2)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .plots import ACCURACY_LABELS, _log_steps, _need
from .strategies import STRATEGIES


def tradeoff_bands(frame: pd.DataFrame, summary: Mapping[str, Any], title: str | None = None) -> plt.Figure:
    """Clean, PGD (and OOD) accuracy against step with their 95% Wilson bands (``frame`` from
    ``uncertainty.run_tradeoff``), the robustness peak and the final step marked, and the verdict of
    ``uncertainty.tradeoff_summary`` in the title."""
    frame = _need(frame, ["step", "clean_acc", "adv_acc"], "tradeoff_bands").sort_values("step")
    fig, ax = plt.subplots(figsize=(7, 4))
    for metric, color in (("clean_acc", "tab:blue"), ("adv_acc", "tab:orange"), ("ood_acc", "tab:green")):
        if metric not in frame or frame[metric].isna().all():
            continue
        ax.plot(frame["step"], frame[metric], marker="o", color=color, label=ACCURACY_LABELS[metric])
        if f"{metric}_low" in frame and frame[f"{metric}_low"].notna().any():
            ax.fill_between(frame["step"], frame[f"{metric}_low"], frame[f"{metric}_high"], color=color, alpha=0.2)
    ax.axvline(summary["peak_step"], color="tab:red", ls="--", lw=1, label=f"robustness peak (step {summary['peak_step']})")
    _log_steps(ax, frame["step"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% band)")
    ax.legend(loc="best", fontsize="small")
    drop = f"drop {100 * summary['drop']:.1f} pts"
    if np.isfinite(summary.get("drop_low", np.nan)):
        drop += f" [{100 * summary['drop_low']:.1f}, {100 * summary['drop_high']:.1f}]"
    ax.set_title(f"{title or 'Accuracy and robustness'}\n{drop}; verdict: {summary['verdict']}", fontsize="medium")
    return fig


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    return table.reindex([s for s in STRATEGIES if s in table.index] + [s for s in table.index if s not in STRATEGIES])


def interval_heatmap(table: pd.DataFrame, value: str, low: str, high: str, title: str, label: str,
                     fmt: str = "{:.3f}", interval_fmt: str = "[{:.3f}, {:.3f}]", **heatmap) -> plt.Figure:
    """A strategies x datasets heatmap of ``value`` (long frame with columns strategy, dataset,
    value, low, high), each cell annotated with its value and its interval."""
    wide = _ordered(table.pivot(index="strategy", columns="dataset", values=value))
    lows = table.pivot(index="strategy", columns="dataset", values=low).reindex_like(wide)
    highs = table.pivot(index="strategy", columns="dataset", values=high).reindex_like(wide)
    text = wide.copy().astype(object)
    for s in wide.index:
        for d in wide.columns:
            v, lo, hi = wide.loc[s, d], lows.loc[s, d], highs.loc[s, d]
            text.loc[s, d] = "" if pd.isna(v) else fmt.format(v) + (
                "" if pd.isna(lo) else "\n" + interval_fmt.format(lo, hi))
    fig, ax = plt.subplots(figsize=(2.2 * len(wide.columns) + 2.5, 0.7 * len(wide) + 1.5))
    sns.heatmap(wide.astype(float), annot=text.to_numpy(), fmt="", ax=ax, cbar_kws={"label": label},
                annot_kws={"fontsize": "small"}, **heatmap)
    ax.set(title=title, xlabel="", ylabel="")
    return fig


def auc_interval_heatmap(aucs: pd.DataFrame) -> plt.Figure:
    """Pareto AUC per strategy and dataset (``uncertainty.auc_intervals`` with ``boot``) with the
    95% bootstrap interval over seeds and evaluation points."""
    return interval_heatmap(aucs, "mean", "boot_low", "boot_high", cmap="viridis", label="AUC",
                            title="Pareto AUC, mean over seeds [95% bootstrap interval: seeds and points]")


def above_average_interval_heatmap(above: pd.DataFrame) -> plt.Figure:
    """% above the strategies' average AUC (``uncertainty.percent_above_average_intervals``) with
    its 95% bootstrap interval."""
    return interval_heatmap(above, "percent", "low", "high", cmap="RdBu", center=0, label="% above average",
                            fmt="{:+.1f}", interval_fmt="[{:+.1f}, {:+.1f}]",
                            title="AUC, % above the strategies' average [95% bootstrap interval]")
