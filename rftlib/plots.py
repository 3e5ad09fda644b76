"""The notebooks' figures, one function per figure, drawn with seaborn from rftlib's tidy frames.

Inputs are the frames of ``rftlib.results`` (``load_records``: one row per evaluation;
``load_summaries``: one row per run) and of ``rftlib.theory.sweep``. Every function returns its
matplotlib Figure; strategies keep one colour across all figures, in the paper's order.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .errors import RftError
from .pareto import pareto_auc, pareto_front, percent_above_average
from .strategies import STRATEGIES

PALETTE = dict(zip(STRATEGIES, sns.color_palette("tab10", len(STRATEGIES))))
ACCURACY_LABELS = {"clean_acc": "clean accuracy", "adv_acc": "PGD robust accuracy", "ood_acc": "OOD accuracy"}


def setup_notebook() -> None:
    """Seaborn's theme, and relative paths meaning the project root as they do under ``rft sweep``:
    JupyterLab starts a kernel in the notebook's folder, so from ``notebooks/`` go one up."""
    sns.set_theme(context="notebook", style="whitegrid")
    here = Path.cwd()
    if here.name == "notebooks" and (here.parent / "params").is_dir():
        os.chdir(here.parent)


def _need(frame: pd.DataFrame, columns: Iterable[str], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RftError(f"{what} needs column(s) {', '.join(missing)}; got {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise RftError(f"{what}: no rows to plot (no runs found?)")
    return frame


def _strategies(frame: pd.DataFrame) -> list[str]:
    """The strategies present, in the paper's order (unknown names last)."""
    present = list(dict.fromkeys(frame["strategy"]))
    return [s for s in STRATEGIES if s in present] + [s for s in present if s not in STRATEGIES]


def _log_steps(ax: plt.Axes, steps: pd.Series) -> None:
    """A log step axis that still shows step 0 (the pretrained model): linear below the first
    evaluation after it."""
    positive = steps[steps > 0]
    ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("step (log)")


def _draw_front(ax: plt.Axes, points: np.ndarray, color, label: str | None = None, fill: bool = False) -> None:
    """The Pareto frontier of ``points`` as the staircase bounding the area its AUC measures."""
    front = pareto_front(points)
    # From (0, y_1) along the steps to the most accurate point, then down to the clean-accuracy axis.
    x, y = np.r_[0, front[:, 0], front[-1, 0]], np.r_[front[0, 1], front[:, 1], 0]
    ax.step(x, y, where="pre", color=color, lw=1.5, alpha=0.9, label=label)
    if fill:
        ax.fill_between(x, y, step="pre", alpha=0.1, color=color)


# ---- RQ1: one run -------------------------------------------------------------------------------

def tradeoff_markers(records: pd.DataFrame, tol: float = 0.05) -> dict[str, float]:
    """The run's robustness peak (step and PGD accuracy of the most robust evaluation, the first of
    equals) and where clean accuracy converges: the first step from which every later evaluation is
    within ``tol`` of the last one's clean accuracy."""
    records = _need(records, ["step", "clean_acc", "adv_acc"], "tradeoff_markers").sort_values("step")
    peak = records.loc[records["adv_acc"].idxmax()]
    settled = (records["clean_acc"] >= records["clean_acc"].iloc[-1] - tol)[::-1].cummin()[::-1]
    return {"peak_step": int(peak["step"]), "peak_adv_acc": float(peak["adv_acc"]),
            "converged_step": int(records.loc[settled, "step"].iloc[0])}


def tradeoff_curve(records: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Clean and PGD accuracy against step (log axis) for one run, with the robustness peak and
    the step where clean accuracy converges marked."""
    records = _need(records, ["step", "clean_acc", "adv_acc"], "tradeoff_curve")
    long = records.melt(id_vars="step", value_vars=["clean_acc", "adv_acc"], var_name="metric", value_name="accuracy")
    long["metric"] = long["metric"].map(ACCURACY_LABELS)
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(long, x="step", y="accuracy", hue="metric", marker="o", ax=ax)
    marks = tradeoff_markers(records)
    ax.axvline(marks["peak_step"], color="tab:red", ls="--", lw=1,
               label=f"robustness peak: {marks['peak_adv_acc']:.3f} at step {marks['peak_step']}")
    ax.axvline(marks["converged_step"], color="grey", ls=":", lw=1.5,
               label=f"clean accuracy converged: step {marks['converged_step']}")
    _log_steps(ax, records["step"])
    ax.set_ylim(0, 1)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or "Accuracy and robustness during fine-tuning")
    return fig


def run_pareto(records: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Every evaluation of one run as a (clean, robust) point coloured by step, and the run's Pareto
    frontier with its area (AUC)."""
    records = _need(records, ["step", "clean_acc", "adv_acc"], "run_pareto")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    points = ax.scatter(records["clean_acc"], records["adv_acc"], c=np.log10(records["step"] + 1), cmap="viridis")
    fig.colorbar(points, ax=ax, label="log10(step + 1)")
    points = records[["clean_acc", "adv_acc"]].to_numpy()
    _draw_front(ax, points, color="black", label="Pareto frontier", fill=True)
    auc = pareto_auc(points)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=ACCURACY_LABELS["clean_acc"], ylabel=ACCURACY_LABELS["adv_acc"],
           title=title or f"Pareto frontier (AUC {auc:.3f})")
    ax.legend(loc="upper left")
    return fig


# ---- RQ2: across strategies and datasets ----------------------------------------------------------

def pareto_fronts(records: pd.DataFrame) -> plt.Figure:
    """One panel per dataset: each run's Pareto frontier, coloured by strategy."""
    records = _need(records, ["run", "strategy", "dataset", "clean_acc", "adv_acc"], "pareto_fronts")
    datasets = list(dict.fromkeys(records["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 4.2), squeeze=False, sharey=True)
    for ax, dataset in zip(axes[0], datasets):
        for run, group in records[records["dataset"] == dataset].groupby("run", sort=True):
            _draw_front(ax, group[["clean_acc", "adv_acc"]].to_numpy(), color=PALETTE.get(group["strategy"].iloc[0]))
        ax.set(title=dataset, xlim=(0, 1), ylim=(0, None), xlabel=ACCURACY_LABELS["clean_acc"])
    axes[0][0].set_ylabel(ACCURACY_LABELS["adv_acc"])
    handles = [plt.Line2D([], [], color=PALETTE.get(s), lw=2, label=s) for s in _strategies(records)]
    fig.legend(handles=handles, loc="center right", title="strategy")
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    return fig


def auc_heatmap(table: pd.DataFrame, title: str = "Pareto AUC (mean over seeds)") -> plt.Figure:
    """The strategies x datasets AUC table (``rftlib.results.auc_table``) as an annotated heatmap."""
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
    summaries = _need(summaries, ["strategy", "dataset", "trainable_fraction", "pareto_auc"], "trainable_vs_auc")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.scatterplot(summaries, x="trainable_fraction", y="pareto_auc", hue="strategy", style="dataset",
                    hue_order=_strategies(summaries), palette=PALETTE, s=70, ax=ax)
    ax.set(xscale="log", xlabel="trainable fraction of parameters (log)", ylabel="Pareto AUC",
           title="Trainable parameters and the robustness trade-off")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    return fig


# ---- RQ3: out-of-distribution robustness -----------------------------------------------------------

def ood_over_steps(records: pd.DataFrame) -> plt.Figure:
    """OOD accuracy (the other domains pooled) against step, one panel per training domain,
    coloured by strategy (seeds pooled with their spread)."""
    records = _need(records.dropna(subset=["ood_acc"]), ["step", "strategy", "domain", "ood_acc"], "ood_over_steps")
    grid = sns.relplot(records, x="step", y="ood_acc", hue="strategy", col="domain", kind="line",
                       hue_order=_strategies(records), palette=PALETTE, marker="o", height=3.8, aspect=1.2)
    for ax in grid.axes.flat:
        _log_steps(ax, records["step"])
    grid.set_axis_labels("step (log)", ACCURACY_LABELS["ood_acc"])
    grid.set_titles("trained on {col_name}")
    return grid.figure


def ood_scatter(records: pd.DataFrame, against: str = "clean_acc") -> plt.Figure:
    """OOD accuracy against ``against`` (clean_acc or adv_acc) over every evaluation of every run,
    coloured by strategy, marked by training domain, with the Pearson correlation in the title."""
    if against not in ("clean_acc", "adv_acc"):
        raise RftError(f"ood_scatter plots against clean_acc or adv_acc, got {against!r}")
    records = _need(records.dropna(subset=["ood_acc", against]), ["strategy", "domain", "ood_acc", against],
                    "ood_scatter")
    r = records[[against, "ood_acc"]].corr().iloc[0, 1]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    sns.scatterplot(records, x=against, y="ood_acc", hue="strategy", style="domain", hue_order=_strategies(records),
                    palette=PALETTE, alpha=0.8, ax=ax)
    ax.set(xlabel=ACCURACY_LABELS[against], ylabel=ACCURACY_LABELS["ood_acc"],
           title=f"OOD against {ACCURACY_LABELS[against]} (Pearson r = {r:.2f}, {len(records)} evaluations)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    return fig


# ---- Theory: the feature model ------------------------------------------------------------------

def theory_curves(frame: pd.DataFrame) -> plt.Figure:
    """Simulated accuracy and L-inf robust accuracy against eta, one curve per k (``rftlib.theory.sweep``
    rows of one d; robust accuracy at the frame's largest eps), with the 99% line."""
    frame = _need(frame, ["d", "k", "eta", "eps", "accuracy", "robust_accuracy"], "theory_curves")
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
    table = _need(table, ["d", "k", "simulated", "bound"], "theory_threshold")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    palette = dict(zip(sorted(table["d"].unique()), sns.color_palette("flare", table["d"].nunique())))
    for d, rows in table.groupby("d"):
        ax.plot(rows["k"], rows["bound"], color=palette[d], lw=1.5, label=f"d = {d}: 2.33/sqrt(k+d)")
        ax.scatter(rows["k"], rows["simulated"], color=palette[d], marker="o", s=30, label=f"d = {d}: simulated")
    ax.set(xlabel="k (coordinates updated by fine-tuning)", ylabel="eta needed for 99% accuracy",
           title="Accuracy threshold on eta: simulation against the bound")
    ax.legend(fontsize="small", loc="upper right")
    return fig
