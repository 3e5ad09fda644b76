"""RQ2's figures, many runs: the strategies' Pareto fronts per dataset, Pareto AUC and "% above average"
heatmaps annotated with their 95% intervals, and trainable parameters against AUC."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rftlib.stats.pareto import percent_above_average
from rftlib.strategies import STRATEGIES
from rftlib.figures.style import ACCURACY_LABELS, PALETTE, draw_front, need_columns, strategies_in


def pareto_fronts(records: pd.DataFrame) -> plt.Figure:
    """One panel per dataset: each run's Pareto frontier, coloured by strategy."""
    records = need_columns(records, ["run", "strategy", "dataset", "clean_acc", "adv_acc"], "pareto_fronts")
    datasets = list(dict.fromkeys(records["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 4.2), squeeze=False, sharey=True)
    for ax, dataset in zip(axes[0], datasets):
        for run, group in records[records["dataset"] == dataset].groupby("run", sort=True):
            draw_front(ax, group[["clean_acc", "adv_acc"]].to_numpy(), color=PALETTE.get(group["strategy"].iloc[0]))
        ax.set(title=dataset, xlim=(0, 1), ylim=(0, None), xlabel=ACCURACY_LABELS["clean_acc"])
    axes[0][0].set_ylabel(ACCURACY_LABELS["adv_acc"])
    handles = [plt.Line2D([], [], color=PALETTE.get(s), lw=2, label=s) for s in strategies_in(records)]
    fig.legend(handles=handles, loc="center right", title="strategy")
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    return fig


def auc_heatmap(table: pd.DataFrame, title: str = "Pareto AUC (mean over seeds)") -> plt.Figure:
    """The strategies x datasets AUC table (``rftlib.analysis.results.auc_table``) as an annotated heatmap."""
    table = table.reindex([s for s in STRATEGIES if s in table.index] + [s for s in table.index if s not in STRATEGIES])
    fig, ax = plt.subplots(figsize=(1.6 * len(table.columns) + 2.5, 0.5 * len(table) + 1.5))
    sns.heatmap(table.astype(float), annot=True, fmt=".3f", cmap="viridis", ax=ax, cbar_kws={"label": "AUC"})
    ax.set(title=title, xlabel="", ylabel="")
    return fig


def above_average_heatmap(table: pd.DataFrame) -> plt.Figure:
    """Each strategy's AUC relative to the mean of the strategies on each dataset, in percent."""
    relative = percent_above_average(table.astype(float))
    relative = relative.reindex([s for s in STRATEGIES if s in relative.index]
                                + [s for s in relative.index if s not in STRATEGIES])
    fig, ax = plt.subplots(figsize=(1.6 * len(relative.columns) + 2.5, 0.5 * len(relative) + 1.5))
    sns.heatmap(relative, annot=True, fmt="+.0f", cmap="RdBu", center=0, ax=ax, cbar_kws={"label": "% above average"})
    ax.set(title="AUC, % above the strategies' average", xlabel="", ylabel="")
    return fig


def trainable_vs_auc(summaries: pd.DataFrame) -> plt.Figure:
    """Pareto AUC against the fraction of parameters each strategy trains (log axis)."""
    summaries = need_columns(summaries, ["strategy", "dataset", "trainable_fraction", "pareto_auc"], "trainable_vs_auc")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.scatterplot(summaries, x="trainable_fraction", y="pareto_auc", hue="strategy", style="dataset",
                    hue_order=strategies_in(summaries), palette=PALETTE, s=70, ax=ax)
    ax.set(xscale="log", xlabel="trainable fraction of parameters (log)", ylabel="Pareto AUC",
           title="Trainable parameters and the robustness trade-off")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
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


__all__ = ['above_average_heatmap', 'above_average_interval_heatmap', 'auc_heatmap', 'auc_interval_heatmap', 'interval_heatmap', 'pareto_fronts', 'trainable_vs_auc']
