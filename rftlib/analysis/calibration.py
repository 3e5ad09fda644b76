"""Robustness under several attacks side by side: per-attack curves and Pareto AUCs, and by how much
PGD overstated robustness against the end-of-run AutoAttack (standard, or reduced as the run says:
``rftlib.runs.measures.autoattack_label``), with paired intervals from the per-point flags.

Inputs are the frames of :mod:`rftlib.analysis.results`: records carry ``adv_acc_<label>`` per configured
attack, and summaries (``load_summaries``) carry ``pareto_auc_<label>`` per attack and, for runs with
``final_autoattack``, the columns of :data:`AUTOATTACK_COLUMNS`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rftlib import stats
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


#: AutoAttack's per-point flags, written by rftlib.training.final_autoattack (torch: not imported here).
AUTOATTACK_FLAGS = "autoattack.npz"


def autoattack_gap(run_dir: str | Path, summary: dict[str, Any], config: dict[str, Any], which: str = "final"
                   ) -> dict[str, float] | None:
    """AutoAttack against the run's PGD on the same points at its end (``which="final"``) or robustness peak
    (``"peak"``): step, n, AutoAttack's and PGD's robust accuracy with Wilson intervals (``aa``, ``aa_low``,
    ``aa_high``, ``pgd``, ...), and the paired gap PGD − AutoAttack with Newcombe's interval (``gap``, ...).
    None without the flags; the PGD values NaN where the step's outcomes are missing."""
    from rftlib.runs import measures
    from rftlib.runs.outcomes import read_outcomes

    entry = (summary.get("autoattack") or {}).get(which)
    path = Path(run_dir) / AUTOATTACK_FLAGS
    if not entry or not path.exists():
        return None
    with np.load(path) as flags:
        if f"{which}_robust" not in flags:
            return None
        positions, robust = flags["positions"], flags[f"{which}_robust"].astype(bool)
    result = {"step": int(entry["step"]), "n": len(robust), "aa": float(robust.mean())}
    result["aa_low"], result["aa_high"] = stats.wilson_interval(int(robust.sum()), len(robust))
    pgd_key = next((f"robust_{s['label']}" for s in measures.attack_specs(config) if s["name"] == "pgd"), None)
    outcomes = read_outcomes(run_dir).get(int(entry["step"]), {})
    nan = float("nan")
    result.update(pgd=nan, pgd_low=nan, pgd_high=nan, gap=nan, gap_low=nan, gap_high=nan)
    if pgd_key in outcomes:
        pgd = outcomes[pgd_key][positions].astype(bool)
        result["pgd"] = float(pgd.mean())
        result["pgd_low"], result["pgd_high"] = stats.wilson_interval(int(pgd.sum()), len(pgd))
        result["gap"], result["gap_low"], result["gap_high"] = stats.paired_difference_interval(pgd, robust)
    return result


def autoattack_entry(summaries: pd.DataFrame) -> dict[str, Any] | None:
    """The summary's ``autoattack`` entry of the first run that has one (for the section's label)."""
    from rftlib.analysis.results import read_summary

    for path in summaries["path"]:
        entry = (read_summary(Path(path)) or {}).get("autoattack")
        if entry:
            return entry
    return None


def gap_table(summaries: pd.DataFrame, which: str = "final") -> pd.DataFrame:
    """PGD − AutoAttack in points, strategies x tasks: one run per cell as its paired 95% interval; several
    seeds as their mean with a Student-t interval over the seeds. Empty without end-of-run AutoAttack."""
    from rftlib.analysis.findings import signed, span
    from rftlib.analysis.results import read_config, read_summary

    rows = []
    for _, run in summaries.iterrows():
        path = Path(run["path"])
        gap = autoattack_gap(path, read_summary(path) or {}, read_config(path), which)
        if gap is not None and np.isfinite(gap["gap"]):
            rows.append({"strategy": run["strategy"], "dataset": run["dataset"], **gap})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    cells = []
    for (strategy, dataset), group in frame.groupby(["strategy", "dataset"]):
        if len(group) == 1:
            row = group.iloc[0]
            text = f"{signed(row['gap'])} {span(row['gap_low'], row['gap_high'], sign=True)}"
        else:
            mean, low, high, n = stats.mean_interval(group["gap"])
            text = f"{signed(mean)} {span(low, high, sign=True)} (mean of {n})"
        cells.append({"strategy": strategy, "dataset": dataset, "text": text})
    return pd.DataFrame(cells).pivot(index="strategy", columns="dataset", values="text").fillna("").rename_axis(
        index=None, columns=None)


__all__ = ["AUTOATTACK_COLUMNS", "AUTOATTACK_FLAGS", "attack_labels", "autoattack_entry", "autoattack_gap", "gap_table", "gap_table_text",
           "summary_fields"]
