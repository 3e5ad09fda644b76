"""The RQ4 report's figures: each remedy's Pareto frontier and final model against plain fine-tuning, and
WiSE-FT α-curves on their run's Pareto plot. Inputs are the frames of ``rftlib.analysis.results`` and
``rftlib.analysis.remedies``; every function returns its matplotlib Figure (None when there is nothing
to draw).

Nothing hides: plain fine-tuning's final model is a large open circle, each remedy's a smaller filled marker
of its own shape drawn on top (equal points stay visible), markers are not clipped at the axes' edges, each
panel's robust axis runs to its own data, and legends sit under the panels."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from rftlib.analysis.remedies import remedy_name, setting_name
from rftlib.analysis.results import read_config
from rftlib.figures.style import ACCURACY_LABELS, draw_front
from rftlib.figures.tradeoff import wrapped
from rftlib.runs.measures import robust_label

MARKERS = ("D", "s", "^", "v", "P", "X")


def _panels(n: int, width: float = 4.3):
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, 4.0 * rows + 0.6), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _frame(ax: plt.Axes, top: float, label: str) -> None:
    ax.set(xlim=(-0.02, 1.03), ylim=(-0.03, max(top, 0.05) * 1.12 + 0.02), xlabel=ACCURACY_LABELS["clean_acc"],
           ylabel=wrapped(label, 36))


def remedy_fronts(records: pd.DataFrame, remedies: pd.DataFrame) -> plt.Figure | None:
    """One panel per setting that has a remedy run (the remedies and their plain run share ``base``): the
    Pareto frontier of every run of the setting (plain in black) and its final model as a marker."""
    runs = remedies[remedies.groupby("base")["remedy"].transform(lambda r: (r != "plain").any())]
    if runs.empty:
        return None
    labels = sorted(set(runs["remedy"]) - {"plain"})
    colours = {"plain": (0, 0, 0), **dict(zip(labels, sns.color_palette("tab10", len(labels))))}
    markers = dict(zip(labels, MARKERS * 3))
    groups = list(runs.groupby("base", sort=False))
    fig, axes = _panels(len(groups))
    for ax, (_, group) in zip(axes, groups):
        group = group.drop_duplicates("remedy").sort_values("remedy", key=lambda r: r != "plain")  # plain first
        top = 0.0
        for _, run in group.iterrows():
            points = records[records["run"] == run["run"]][["clean_acc", "adv_acc"]].to_numpy()
            if len(points):
                # Plain wide and solid underneath, remedies thin and dashed on top: equal frontiers (robust
                # selection trains as plain fine-tuning does) stay both visible.
                plain = run["remedy"] == "plain"
                draw_front(ax, points, color=colours[run["remedy"]], label=f"{remedy_name(run['remedy'])}: frontier",
                           lw=3.0 if plain else 1.3, ls="-" if plain else "--")
                top = max(top, float(points[:, 1].max()))
            final = [run["final_clean_acc"]], [run["final_adv_acc"]]
            if run["remedy"] == "plain":
                ax.scatter(*final, s=170, facecolors="none", edgecolors="black", linewidths=1.8, zorder=4,
                           clip_on=False, label="plain: final model")
            else:
                ax.scatter(*final, s=55, color=colours[run["remedy"]], marker=markers[run["remedy"]], zorder=5,
                           clip_on=False, label=f"{remedy_name(run['remedy'])}: final model")
            top = max(top, float(run["final_adv_acc"]))
        first = group.iloc[0]
        _frame(ax, top, robust_label(read_config(Path(first["path"]))))
        ax.set_title(setting_name(first["task"], first["strategy"]) + f", seed {first['seed']}", fontsize="medium")
    handles, names = {}, []
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            if name not in handles:
                handles[name] = handle
                names.append(name)
    fig.legend([handles[n] for n in names], names, loc="lower center", ncol=min(len(names), 4), frameon=False,
               fontsize="small")
    rows = -(-len(groups) // min(len(groups), 3))
    fig.tight_layout(rect=(0, 0.05 + 0.05 * (len(names) > 4) / rows, 1, 1))
    return fig


def wise_ft_curves(records: pd.DataFrame, points: pd.DataFrame) -> plt.Figure | None:
    """One panel per run with WiSE-FT rows: the run's evaluations (grey, its frontier in black) and the
    α-curve from the start point (α = 0) to the fine-tuned end point (α = 1), labelled by α. A remedy
    run's curve is titled with it ("L2-SP + WiSE-FT"): its end point is the remedy's model."""
    if points.empty:
        return None
    runs = list(points.groupby("run", sort=False))
    fig, axes = _panels(len(runs))
    for ax, (run, curve) in zip(axes, runs):
        own = records[records["run"] == run][["clean_acc", "adv_acc"]].to_numpy()
        top = float(curve["adv_acc"].max())
        if len(own):
            ax.scatter(own[:, 0], own[:, 1], s=12, color="0.6", label="the run's evaluations", clip_on=False)
            draw_front(ax, own, color="black", label="the run's frontier")
            top = max(top, float(own[:, 1].max()))
        for start, line in curve.groupby("start", sort=False):
            line = line.sort_values("alpha")
            ax.plot(line["clean_acc"], line["adv_acc"], marker="o", ms=5, label=f"WiSE-FT from the {start} start",
                    clip_on=False, zorder=4)
            for _, row in line.iterrows():
                ax.annotate(f"α={row['alpha']:g}", (row["clean_acc"], row["adv_acc"]), fontsize=7,
                            textcoords="offset points", xytext=(5, -2))
        first = curve.iloc[0]
        remedy = first.get("remedy", "plain")
        method = "WiSE-FT" if remedy in ("plain", None) or remedy != remedy else f"{remedy_name(remedy)} + WiSE-FT"
        _frame(ax, top, robust_label(read_config(Path(first["path"]))))
        ax.set_title(f"{setting_name(first['task'], first['strategy'])}, seed {first['seed']}: {method}\n{first['role']}",
                     fontsize="medium")
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.2), fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


__all__ = ["remedy_fronts", "wise_ft_curves"]
