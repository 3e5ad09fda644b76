"""The RQ2-against-complexity figure: each strategy's Pareto AUC against each measure, across tasks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rftlib.core.errors import RftError
from rftlib.figures.style import PALETTE, strategies_in
from rftlib.analysis.complexity.measure import MEASURES


def auc_against_measures(per_task: pd.DataFrame, value_label: str = "Pareto AUC") -> plt.Figure:
    """One panel per measure with values: x the task's measure (bars: its 95% interval), y each
    strategy's mean AUC over seeds (bars: ± one standard deviation), one line per strategy joining its
    tasks in order of the measure. ``per_task``: ``analysis.auc_by_task``'s frame."""
    measures = [m for m in MEASURES if m in per_task.columns and per_task[m].notna().any()]
    if per_task.empty or not measures:
        raise RftError("auc_against_measures: no task has measures (run the sweep, or rft complexity, first)")
    fig, axes = plt.subplots(1, len(measures), figsize=(3.6 * len(measures), 3.6), sharey=True, squeeze=False)
    for ax, measure in zip(axes[0], measures):
        for strategy in strategies_in(per_task):
            rows = per_task[per_task["strategy"] == strategy].dropna(subset=[measure]).sort_values(measure)
            xerr = np.vstack([rows[measure] - rows[f"{measure}_low"], rows[f"{measure}_high"] - rows[measure]])
            ax.errorbar(rows[measure], rows["mean"], yerr=rows["std"].fillna(0), xerr=np.nan_to_num(xerr),
                        marker="o", ms=4, lw=1.2, capsize=2, color=PALETTE.get(strategy), label=strategy)
        direction = "simpler →" if MEASURES[measure][0] > 0 else "harder →"
        ax.set(xlabel=f"{measure} ({direction})", title=measure)
    axes[0][0].set_ylabel(value_label)
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    fig.suptitle("Each strategy's AUC against task complexity (one point per task)")
    fig.tight_layout()
    return fig
