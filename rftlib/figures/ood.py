"""RQ3's figures: OOD accuracy over training, and accuracy under distribution shift against clean accuracy
(with Pearson's r and its 95% interval, from ``rftlib.analysis.shift``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rftlib.core.errors import RftError
from rftlib.analysis.shift import MEASURES, clean_correlations
from rftlib.figures.style import ACCURACY_LABELS, PALETTE, log_steps, need_columns, strategies_in


def ood_over_steps(records: pd.DataFrame) -> plt.Figure:
    """OOD accuracy (the other domains pooled) against step, one panel per training domain,
    coloured by strategy (seeds pooled with their spread)."""
    records = need_columns(records.dropna(subset=["ood_acc"]), ["step", "strategy", "domain", "ood_acc"], "ood_over_steps")
    grid = sns.relplot(records, x="step", y="ood_acc", hue="strategy", col="domain", kind="line",
                       hue_order=strategies_in(records), palette=PALETTE, marker="o", height=3.8, aspect=1.2)
    for ax in grid.axes.flat:
        log_steps(ax, records["step"])
    grid.set_axis_labels("step (log)", ACCURACY_LABELS["ood_acc"])
    grid.set_titles("trained on {col_name}")
    return grid.figure


def ood_scatter(records: pd.DataFrame, against: str = "clean_acc") -> plt.Figure:
    """OOD accuracy against ``against`` (clean_acc or adv_acc) over every evaluation of every run,
    coloured by strategy, marked by training domain, with the Pearson correlation in the title."""
    if against not in ("clean_acc", "adv_acc"):
        raise RftError(f"ood_scatter plots against clean_acc or adv_acc, got {against!r}")
    records = need_columns(records.dropna(subset=["ood_acc", against]), ["strategy", "domain", "ood_acc", against],
                    "ood_scatter")
    r = records[[against, "ood_acc"]].corr().iloc[0, 1]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    sns.scatterplot(records, x=against, y="ood_acc", hue="strategy", style="domain", hue_order=strategies_in(records),
                    palette=PALETTE, alpha=0.8, ax=ax)
    ax.set(xlabel=ACCURACY_LABELS[against], ylabel=ACCURACY_LABELS["ood_acc"],
           title=f"OOD against {ACCURACY_LABELS[against]} (Pearson r = {r:.2f}, {len(records)} evaluations)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    return fig


def shift_vs_clean(records: pd.DataFrame, measures=tuple(MEASURES)):
    """Each shift measure against clean accuracy, every evaluation of every run, coloured by strategy,
    with r [95% interval] over the evaluations in the panel's title. Returns the Figure."""
    stats = clean_correlations(records, measures).set_index(["measure", "level"])
    present = list(dict.fromkeys(stats.index.get_level_values("measure")))
    figure, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 4.2), squeeze=False)
    for ax, measure in zip(axes[0], present):
        points = records.dropna(subset=["clean_acc", measure])
        sns.scatterplot(data=points, x="clean_acc", y=measure, hue="strategy", hue_order=strategies_in(points),
                        palette=PALETTE, s=25, alpha=0.7, ax=ax)
        low, high = points[["clean_acc", measure]].min().min(), points[["clean_acc", measure]].max().max()
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls=":")  # y = x: no accuracy lost to the shift
        row = stats.loc[(measure, "evaluations")]
        ax.set(xlabel=ACCURACY_LABELS["clean_acc"], ylabel=MEASURES[measure],
               title=f"r = {row['r']:.2f} [{row['r_low']:.2f}, {row['r_high']:.2f}], {int(row['n'])} evaluations")
        ax.legend(fontsize="small", title=None)
    figure.tight_layout()
    return figure


__all__ = ['ood_over_steps', 'ood_scatter', 'shift_vs_clean']
