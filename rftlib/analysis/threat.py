"""Robustness curves (RQ1) and corruption severity curves (RQ3) of many runs, as tidy frames (their figures: ``rftlib.figures.threat``).

``curve_frame``: each run's last measured robustness curve (its summary's ``robustness_curve``: robust
accuracy per radius with Wilson intervals). ``severity_frame``: each run's corruption accuracy per
corruption and severity at its final evaluation (record columns ``corruption_<name>_s<k>_acc``,
written when a run measures two severities or more). Both are empty, with their columns, for runs
without them, and the plots then say so instead of failing.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

_SEVERITY = re.compile(r"^corruption_(?P<name>[a-z_]+?)_s(?P<severity>[1-5])_acc$")
CURVE_COLUMNS = ["strategy", "dataset", "seed", "norm", "radius", "acc", "low", "high", "auc", "auc_low", "auc_high"]
SEVERITY_COLUMNS = ["strategy", "dataset", "seed", "corruption", "severity", "acc"]


def curve_frame(summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per run and radius of the runs' robustness curves (``CURVE_COLUMNS``)."""
    from rftlib.analysis.results import read_summary

    rows = []
    for _, run in summaries.iterrows():
        curve = (read_summary(Path(run["path"])) or {}).get("robustness_curve")
        if not curve:
            continue
        for radius, acc, low, high in zip(curve["radii"], curve["acc"], curve["acc_low"], curve["acc_high"]):
            rows.append({"strategy": run["strategy"], "dataset": run["dataset"], "seed": run["seed"],
                         "norm": curve["norm"], "radius": radius, "acc": acc, "low": low, "high": high,
                         "auc": curve["auc"], "auc_low": curve["auc_low"], "auc_high": curve["auc_high"]})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def severity_frame(records: pd.DataFrame) -> pd.DataFrame:
    """One row per run, corruption and severity at the run's last evaluation (``SEVERITY_COLUMNS``)."""
    columns = [(c, m) for c in records.columns if (m := _SEVERITY.match(c))]
    if not columns or records.empty:
        return pd.DataFrame(columns=SEVERITY_COLUMNS)
    last = records.sort_values("step").groupby(["path"] if "path" in records else ["strategy", "dataset", "seed"]).tail(1)
    rows = [{"strategy": row["strategy"], "dataset": row["dataset"], "seed": row["seed"],
             "corruption": match["name"], "severity": int(match["severity"]), "acc": row[column]}
            for _, row in last.iterrows() for column, match in columns if row[column] == row[column]]
    return pd.DataFrame(rows, columns=SEVERITY_COLUMNS)


def mean_corruption_accuracy(severities: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and dataset: the mean corruption accuracy over corruptions and severities (and seeds)."""
    return (severities.groupby(["strategy", "dataset"])["acc"].mean().rename("mean_corruption_acc").reset_index())


def radius_family(records: pd.DataFrame, radii: list[float], norm: str) -> pd.DataFrame:
    """A run's robust accuracy over training at each radius of its curve (``curve_<k>_acc`` columns of the
    evaluations that measured it): columns step, radius, acc."""
    rows = [{"step": row["step"], "radius": f"{norm} {radius:.4g}", "acc": row[f"curve_{k}_acc"]}
            for _, row in records.iterrows() for k, radius in enumerate(radii)
            if f"curve_{k}_acc" in records and row[f"curve_{k}_acc"] == row[f"curve_{k}_acc"]]
    return pd.DataFrame(rows, columns=["step", "radius", "acc"])


__all__ = ["CURVE_COLUMNS", "SEVERITY_COLUMNS", "curve_frame", "mean_corruption_accuracy", "radius_family", "severity_frame"]
