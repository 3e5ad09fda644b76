"""The RQ4 report's figures: each remedy's Pareto frontier and final point against plain fine-tuning,
and WiSE-FT α-curves on their run's Pareto plot. Inputs are the frames of ``rftlib.analysis.results`` and
``rftlib.analysis.remedies``; every function returns its matplotlib Figure (None when there is nothing
to draw)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from rftlib.figures.style import ACCURACY_LABELS, draw_front


def _panels(n: int, width: float = 4.2):
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, 3.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def remedy_fronts(records: pd.DataFrame, remedies: pd.DataFrame) -> plt.Figure | None:
    """One panel per (dataset, domain, strategy, objective, seed) that has a remedy run: the Pareto frontier
    of every run of the group by remedy (plain in black), its final point as a large marker."""
    runs = remedies[remedies.groupby("base")["remedy"].transform(lambda r: (r != "plain").any())]
    if runs.empty:
        return None
    labels = sorted(set(runs["remedy"]) - {"plain"})
    colours = {"plain": (0, 0, 0), **dict(zip(labels, sns.color_palette("tab10", len(labels))))}
    groups = list(runs.groupby("base", sort=False))
    fig, axes = _panels(len(groups))
    for ax, (_, group) in zip(axes, groups):
        for _, run in group.drop_duplicates("remedy").iterrows():
            points = records[records["run"] == run["run"]][["clean_acc", "adv_acc"]].to_numpy()
            if len(points):
                draw_front(ax, points, color=colours[run["remedy"]], label=run["remedy"])
            ax.scatter([run["final_clean_acc"]], [run["final_adv_acc"]], s=70, color=colours[run["remedy"]],
                       edgecolor="white", zorder=3)
        first = group.iloc[0]
        ax.set(title=f"{first['dataset']}{'-' + first['domain'] if isinstance(first['domain'], str) else ''} / "
                     f"{first['strategy']} / {first['objective']}", xlim=(0, 1), ylim=(0, None),
               xlabel=ACCURACY_LABELS["clean_acc"], ylabel=ACCURACY_LABELS["adv_acc"])
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle("Pareto frontiers (lines) and final models (dots): remedies against plain fine-tuning")
    fig.tight_layout()
    return fig


def wise_ft_curves(records: pd.DataFrame, points: pd.DataFrame) -> plt.Figure | None:
    """One panel per run with WiSE-FT rows: the run's evaluations (grey, its frontier in black) and the
    α-curve from the start point (α = 0) to the fine-tuned end point (α = 1), labelled by α. A remedy
    run's curve is titled with it ("L2-SP + WiSE-FT"): its end point is the remedy's model."""
    from rftlib.analysis.verdicts import remedy_name

    if points.empty:
        return None
    runs = list(points.groupby("run", sort=False))
    fig, axes = _panels(len(runs))
    for ax, (run, curve) in zip(axes, runs):
        own = records[records["run"] == run][["clean_acc", "adv_acc"]].to_numpy()
        if len(own):
            ax.scatter(own[:, 0], own[:, 1], s=12, color="0.6", label="evaluations")
            draw_front(ax, own, color="black", label="run's frontier")
        for start, line in curve.groupby("start", sort=False):
            line = line.sort_values("alpha")
            ax.plot(line["clean_acc"], line["adv_acc"], marker="o", label=f"WiSE-FT from {start}")
            for _, row in line.iterrows():
                ax.annotate(f"{row['alpha']:g}", (row["clean_acc"], row["adv_acc"]), fontsize=7,
                            textcoords="offset points", xytext=(3, 3))
        first = curve.iloc[0]
        remedy = first.get("remedy", "plain")
        method = "WiSE-FT" if remedy in ("plain", None) or remedy != remedy else f"{remedy_name(remedy)} + WiSE-FT"
        ax.set(title=f"{first['dataset']} / {first['strategy']} (seed {first['seed']}): {method}", xlim=(0, 1), ylim=(0, None),
               xlabel=ACCURACY_LABELS["clean_acc"], ylabel=ACCURACY_LABELS["adv_acc"])
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


__all__ = ["remedy_fronts", "wise_ft_curves"]
