"""Robustness under several attacks side by side: per-attack curves and Pareto AUCs, and by how much
PGD overstated robustness against standard AutoAttack.

Inputs are the frames of :mod:`rftlib.analysis.results`: records carry ``adv_acc_<label>`` per configured
attack, and summaries (``load_summaries``) carry ``pareto_auc_<label>`` per attack and, for runs with
``final_autoattack``, the columns of :data:`AUTOATTACK_COLUMNS`.
"""
from __future__ import annotations

import pandas as pd

from rftlib.core.errors import RftError
# The per-attack columns are read where runs are loaded (rftlib.analysis.results); re-exported here, their old home.
from rftlib.analysis.results import ATTACK_PREFIX, AUTOATTACK_COLUMNS, attack_labels, auc_table_text, summary_fields  # noqa: F401


def gap_table_text(summaries: pd.DataFrame, which: str = "peak", digits: int = 3) -> pd.DataFrame:
    """PGD − AutoAttack robust accuracy (points of accuracy as a fraction), strategies x datasets,
    "mean ± std" over seeds, at the run's PGD peak (``which="peak"``) or at its end (``"final"``)."""
    if which not in ("peak", "final"):
        raise RftError(f"gap_table_text which must be 'peak' or 'final', got {which!r}")
    column = f"pgd_overstatement_{which}"
    if column not in summaries.columns or summaries[column].isna().all():
        raise RftError("no run has end-of-run AutoAttack results; set final_autoattack: {size: ...} in the runs")
    return auc_table_text(summaries, value=column, digits=digits)


__all__ = ["AUTOATTACK_COLUMNS", "attack_labels", "gap_table_text", "summary_fields"]
