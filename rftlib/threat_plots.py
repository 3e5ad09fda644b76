"""Robustness curves (RQ1) and corruption severity curves (RQ3) of many runs, as tidy frames and figures.

``curve_frame``: each run's last measured robustness curve (its summary's ``robustness_curve``: robust
accuracy per radius with Wilson intervals). ``severity_frame``: each run's corruption accuracy per
corruption and severity at its final evaluation (record columns ``corruption_<name>_s<k>_acc``,
written when a run measures two severities or more). Both are empty, with their columns, for runs
without them, and the plots then say so instead of failing.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

_SEVERITY = re.compile(r"^corruption_(?P<name>[a-z_]+?)_s(?P<severity>[1-5])_acc$")
CURVE_COLUMNS = ["strategy", "dataset", "seed", "norm", "radius", "acc", "low", "high", "auc", "auc_low", "auc_high"]
SEVERITY_COLUMNS = ["strategy", "dataset", "seed", "corruption", "severity", "acc"]


def curve_frame(summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per run and radius of the runs' robustness curves (``CURVE_COLUMNS``)."""
    from .results import read_summary

    rows = []
    for _, run in summaries.iterrows():
        curve = (read_summary(Path(run["path"])) or {}).get("robustness_curve")
        if not curve:
            continue
        for radius, acc, low, high in zip(curve["radii"], curve["acc"], curve["acc_low"], curve["acc_high"]):
            rows.append({"strategy": run["strategy"], "dataset": run["dataset"], "seed": run["seed"],
                         "norm": curve["norm"], "radius": radius, "acc": acc, "low": low, "high": high,
                         "auc": curve["auc"], "auc_low": curve["auc_low"], "auc_high": curve["auc_high"]})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def severity_frame(records: pd.DataFrame) -> pd.DataFrame:
    """One row per run, corruption and severity at the run's last evaluation (``SEVERITY_COLUMNS``)."""
    columns = [(c, m) for c in records.columns if (m := _SEVERITY.match(c))]
    if not columns or records.empty:
        return pd.DataFrame(columns=SEVERITY_COLUMNS)
    last = records.sort_values("step").groupby(["path"] if "path" in records else ["strategy", "dataset", "seed"]).tail(1)
    rows = [{"strategy": row["strategy"], "dataset": row["dataset"], "seed": row["seed"],
             "corruption": match["name"], "severity": int(match["severity"]), "acc": row[column]}
            for _, row in last.iterrows() for column, match in columns if row[column] == row[column]]
    return pd.DataFrame(rows, columns=SEVERITY_COLUMNS)


def mean_corruption_accuracy(severities: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and dataset: the mean corruption accuracy over corruptions and severities (and seeds)."""
    return (severities.groupby(["strategy", "dataset"])["acc"].mean().rename("mean_corruption_acc").reset_index())


def radius_family(records: pd.DataFrame, radii: list[float], norm: str) -> pd.DataFrame:
    """A run's robust accuracy over training at each radius of its curve (``curve_<k>_acc`` columns of the
    evaluations that measured it): columns step, radius, acc."""
    rows = [{"step": row["step"], "radius": f"{norm} {radius:.4g}", "acc": row[f"curve_{k}_acc"]}
            for _, row in records.iterrows() for k, radius in enumerate(radii)
            if f"curve_{k}_acc" in records and row[f"curve_{k}_acc"] == row[f"curve_{k}_acc"]]
    return pd.DataFrame(rows, columns=["step", "radius", "acc"])


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


__all__ = ["CURVE_COLUMNS", "SEVERITY_COLUMNS", "curve_frame", "mean_corruption_accuracy", "plot_curves",
           "plot_radius_family", "plot_severities", "radius_family", "severity_frame"]
