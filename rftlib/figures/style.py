"""What every figure shares: one colour per strategy across all figures (the paper's order), the accuracy
labels, the notebook theme, and small helpers (column checks, the log step axis, a Pareto front)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from rftlib.core.errors import RftError
from rftlib.stats.pareto import pareto_front
from rftlib.strategies import STRATEGIES

PALETTE = dict(zip(STRATEGIES, sns.color_palette("tab10", len(STRATEGIES))))


ACCURACY_LABELS = {"clean_acc": "clean accuracy", "adv_acc": "PGD robust accuracy", "ood_acc": "OOD accuracy"}


def setup_notebook() -> None:
    """Seaborn's theme, and relative paths meaning the project root as they do under ``rft sweep``:
    JupyterLab starts a kernel in the notebook's folder, so from ``notebooks/`` go one up."""
    sns.set_theme(context="notebook", style="whitegrid")
    here = Path.cwd()
    if here.name == "notebooks" and (here.parent / "params").is_dir():
        os.chdir(here.parent)


def need_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RftError(f"{what} needs column(s) {', '.join(missing)}; got {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise RftError(f"{what}: no rows to plot (no runs found?)")
    return frame


def strategies_in(frame: pd.DataFrame) -> list[str]:
    """The strategies present, in the paper's order (unknown names last)."""
    present = list(dict.fromkeys(frame["strategy"]))
    return [s for s in STRATEGIES if s in present] + [s for s in present if s not in STRATEGIES]


def log_steps(ax: plt.Axes, steps: pd.Series) -> None:
    """A log step axis that still shows step 0 (the pretrained model): linear below the first
    evaluation after it."""
    positive = steps[steps > 0]
    ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("step (log)")


def draw_front(ax: plt.Axes, points: np.ndarray, color, label: str | None = None, fill: bool = False) -> None:
    """The Pareto frontier of ``points`` as the staircase bounding the area its AUC measures."""
    front = pareto_front(points)
    # From (0, y_1) along the steps to the most accurate point, then down to the clean-accuracy axis.
    x, y = np.r_[0, front[:, 0], front[-1, 0]], np.r_[front[0, 1], front[:, 1], 0]
    ax.step(x, y, where="pre", color=color, lw=1.5, alpha=0.9, label=label)
    if fill:
        ax.fill_between(x, y, step="pre", alpha=0.1, color=color)


__all__ = ["ACCURACY_LABELS", "PALETTE", "draw_front", "log_steps", "need_columns", "setup_notebook", "strategies_in"]
