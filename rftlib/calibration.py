"""Robustness under several attacks side by side: per-attack curves and Pareto AUCs, and by how much
PGD overstated robustness against standard AutoAttack.

Inputs are the frames of :mod:`rftlib.results`: records carry ``adv_acc_<label>`` per configured
attack, and summaries (``load_summaries``) carry ``pareto_auc_<label>`` per attack and, for runs with
``final_autoattack``, the columns of :data:`AUTOATTACK_COLUMNS`.
"""
from __future__ import annotations

import pandas as pd

from .errors import RftError
# The per-attack columns are read where runs are loaded (rftlib.results); re-exported here, their old home.
from .results import ATTACK_PREFIX, AUTOATTACK_COLUMNS, attack_labels, auc_table_text, summary_fields  # noqa: F401


def gap_table_text(summaries: pd.DataFrame, which: str = "peak", digits: int = 3) -> pd.DataFrame:
    """PGD − AutoAttack robust accuracy (points of accuracy as a fraction), strategies x datasets,
    "mean ± std" over seeds, at the run's PGD peak (``which="peak"``) or at its end (``"final"``)."""
    if which not in ("peak", "final"):
        raise RftError(f"gap_table_text which must be 'peak' or 'final', got {which!r}")
    column = f"pgd_overstatement_{which}"
    if column not in summaries.columns or summaries[column].isna().all():
        raise RftError("no run has end-of-run AutoAttack results; set final_autoattack: {size: ...} in the runs")
    return auc_table_text(summaries, value=column, digits=digits)


def attack_curves(records: pd.DataFrame, title: str | None = None):
    """One run: clean accuracy and the robust accuracy under each attack against step (log axis), with
    the worst case over the attacks dashed. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .plots import _log_steps, _need

    labels = attack_labels(records.columns)
    records = _need(records, ["step", "clean_acc", "adv_acc", *(ATTACK_PREFIX + label for label in labels)],
                    "attack_curves")
    names = {"clean_acc": "clean", **{ATTACK_PREFIX + label: label for label in labels}}
    long = records.melt(id_vars="step", value_vars=list(names), var_name="measure", value_name="accuracy")
    long["measure"] = long["measure"].map(names)
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(long, x="step", y="accuracy", hue="measure", marker="o", ax=ax)
    if len(labels) > 1:
        ax.plot(records["step"], records["adv_acc"], color="black", ls="--", lw=1, label="worst case")
    _log_steps(ax, records["step"])
    ax.set_ylim(0, 1)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or "Robust accuracy under each attack")
    return fig


__all__ = ["AUTOATTACK_COLUMNS", "attack_curves", "attack_labels", "gap_table_text", "summary_fields"]
