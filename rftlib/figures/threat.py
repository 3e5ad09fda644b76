"""Robustness curves over radii and corruption severity curves of many runs (frames of
``rftlib.analysis.threat``); each figure says so when its frame is empty instead of failing."""
from __future__ import annotations

import pandas as pd



def plot_radius_family(family: pd.DataFrame, title: str = ""):
    """Robust accuracy over training, one line per radius (with ``when: end``, one point each)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    figure, axis = plt.subplots(figsize=(6, 3.5))
    if family.empty:
        axis.axis("off")
        axis.text(0.5, 0.5, "no robustness curve in this run (robustness_curve in the run configuration)",
                  ha="center", va="center")
        return figure
    sns.lineplot(family, x="step", y="acc", hue="radius", marker="o", ax=axis, palette="viridis")
    axis.set(xlabel="step", ylabel="robust accuracy", title=title)
    return figure


def plot_curves(curves: pd.DataFrame, *, hue: str = "strategy", col: str = "dataset"):
    """Robust accuracy against the radius, a line per ``hue`` with its 95% band, a panel per ``col``
    (and norm): the family of curves at the chosen radii. A figure saying so when there are none."""
    return _lines(curves, x="radius", y="acc", hue=hue, col=col, bands=("low", "high"),
                  xlabel="radius (the norm's units)", ylabel="robust accuracy",
                  empty="no run measured a robustness curve (robustness_curve in the run configuration)")


def plot_severities(severities: pd.DataFrame, *, hue: str = "strategy", col: str = "corruption"):
    """Accuracy against the corruption severity (1-5), a line per ``hue``, a panel per corruption."""
    return _lines(severities, x="severity", y="acc", hue=hue, col=col, bands=None, xlabel="severity",
                  ylabel="accuracy", empty="no run measured two corruption severities or more "
                                           "(corruptions: {severities: [1, 2, 3, 4, 5]})")


def _lines(frame: pd.DataFrame, *, x: str, y: str, hue: str, col: str, bands, xlabel: str, ylabel: str, empty: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    if frame.empty:
        figure, axis = plt.subplots(figsize=(6, 1.2))
        axis.axis("off")
        axis.text(0.5, 0.5, empty, ha="center", va="center", wrap=True)
        return figure
    panels = sorted(frame[col].unique())
    grid = sns.FacetGrid(frame, col=col, col_order=panels, hue=hue, col_wrap=min(len(panels), 4), height=3,
                         sharex=False)
    grid.map_dataframe(sns.lineplot, x=x, y=y, marker="o", errorbar=("ci", 95) if bands is None else None)
    if bands is not None:  # the runs' own Wilson intervals (one seed) around each line
        for panel, axis in zip(panels, grid.axes.flat):
            part = frame[frame[col] == panel]
            for (name, color) in zip(grid.hue_names, sns.color_palette(n_colors=len(grid.hue_names))):
                line = part[part[hue] == name].groupby(x)[[bands[0], bands[1]]].mean()
                axis.fill_between(line.index, line[bands[0]], line[bands[1]], color=color, alpha=0.15)
    grid.set_axis_labels(xlabel, ylabel)
    grid.add_legend()
    return grid.figure


__all__ = ['plot_curves', 'plot_radius_family', 'plot_severities']
