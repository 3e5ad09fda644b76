"""Does accuracy under distribution shift follow clean accuracy? For RQ3: domain shift (``ood_acc``)
and common corruptions (``corruption_acc``, rftlib.data.corruptions), each against ``clean_acc``.

``clean_correlations(records)`` gives Pearson's r with a 95% interval (Fisher's z) at two levels:
over every evaluation (the points of the figure; evaluations of one run are not independent, so that
interval is optimistic) and over the runs' final evaluations (independent runs, fewer points).
``shift_vs_clean(records)`` draws one panel per measure.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import RftError

MEASURES = {"ood_acc": "domain-shift OOD accuracy", "corruption_acc": "common-corruption accuracy"}


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Pearson's r of two samples and its 95% interval by Fisher's z (NaN where undefined)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan, math.nan, math.nan
    r = float(np.corrcoef(x, y)[0, 1])
    if len(x) <= 3 or abs(r) >= 1:
        return r, math.nan, math.nan
    z, half = math.atanh(r), 1.959963984540054 / math.sqrt(len(x) - 3)
    return r, math.tanh(z - half), math.tanh(z + half)


def clean_correlations(records: pd.DataFrame, measures=tuple(MEASURES)) -> pd.DataFrame:
    """One row per measure present and level ("evaluations", "final per run"): n, r, r_low, r_high."""
    measures = [m for m in measures if m in records.columns and records[m].notna().any()]
    if "clean_acc" not in records.columns or not measures:
        raise RftError(f"clean_correlations needs clean_acc and one of {', '.join(MEASURES)} in the records")
    rows = []
    for measure in measures:
        points = records.dropna(subset=["clean_acc", measure])
        finals = points.sort_values("step").groupby("run").tail(1)
        for level, frame in (("evaluations", points), ("final per run", finals)):
            r, low, high = pearson(frame["clean_acc"], frame[measure])
            rows.append({"measure": measure, "level": level, "n": len(frame), "r": r, "r_low": low, "r_high": high})
    return pd.DataFrame(rows)


def shift_vs_clean(records: pd.DataFrame, measures=tuple(MEASURES)):
    """Each shift measure against clean accuracy, every evaluation of every run, coloured by strategy,
    with r [95% interval] over the evaluations in the panel's title. Returns the Figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .plots import ACCURACY_LABELS, PALETTE, _strategies

    stats = clean_correlations(records, measures).set_index(["measure", "level"])
    present = list(dict.fromkeys(stats.index.get_level_values("measure")))
    figure, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 4.2), squeeze=False)
    for ax, measure in zip(axes[0], present):
        points = records.dropna(subset=["clean_acc", measure])
        sns.scatterplot(data=points, x="clean_acc", y=measure, hue="strategy", hue_order=_strategies(points),
                        palette=PALETTE, s=25, alpha=0.7, ax=ax)
        low, high = points[["clean_acc", measure]].min().min(), points[["clean_acc", measure]].max().max()
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls=":")  # y = x: no accuracy lost to the shift
        row = stats.loc[(measure, "evaluations")]
        ax.set(xlabel=ACCURACY_LABELS["clean_acc"], ylabel=MEASURES[measure],
               title=f"r = {row['r']:.2f} [{row['r_low']:.2f}, {row['r_high']:.2f}], {int(row['n'])} evaluations")
        ax.legend(fontsize="small", title=None)
    figure.tight_layout()
    return figure


__all__ = ["MEASURES", "clean_correlations", "pearson", "shift_vs_clean"]
