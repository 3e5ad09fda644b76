"""Does accuracy under distribution shift follow clean accuracy? For RQ3: domain shift (``ood_acc``)
and common corruptions (``corruption_acc``, rftlib.data.corruptions), each against ``clean_acc``.

``clean_correlations(records)`` gives Pearson's r with a 95% interval (Fisher's z) at two levels:
over every evaluation (the points of the figure; evaluations of one run are not independent, so that
interval is optimistic) and over the runs' final evaluations (independent runs, fewer points).
``rftlib.figures.shift_vs_clean(records)`` draws one panel per measure.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rftlib.core.errors import RftError

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


__all__ = ["MEASURES", "clean_correlations", "pearson"]
