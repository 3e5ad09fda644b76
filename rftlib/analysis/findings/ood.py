"""RQ3's opening: does accuracy under distribution shift follow clean accuracy (domain shift, common
corruptions), how it relates to robust accuracy, and which strategy ends best out of distribution."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rftlib import stats
from rftlib.analysis.findings import Findings, pct, plural, signed, span
from rftlib.analysis.shift import MEASURES, clean_correlations, pearson
from rftlib.runs.outcomes import read_outcomes
from rftlib.runs.roles import strategy_name

NAMES = {"ood_acc": "OOD accuracy (the other domains)", "corruption_acc": "accuracy under common corruptions"}


def _r(r: float, low: float, high: float) -> str:
    return f"r = {r:.2f}" + (f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) else " (too few points for an interval)")


def correlation_sentence(records: pd.DataFrame, measure: str) -> str | None:
    """How ``measure`` follows clean accuracy, over the evaluations and over the runs' final evaluations."""
    if measure not in records or records[measure].notna().sum() < 3:
        return None
    table = clean_correlations(records, (measure,)).set_index("level")
    every, final = table.loc["evaluations"], table.loc["final per run"]
    runs = records.dropna(subset=[measure])["run"].nunique()
    if every["r_low"] > 0:
        verb = "rises with"
    elif every["r_high"] < 0:
        verb = "falls as"
    else:
        verb = "cannot be told apart from no relation to"
    text = (f"{NAMES[measure][0].upper() + NAMES[measure][1:]} {verb} clean accuracy: "
            f"{_r(every['r'], every['r_low'], every['r_high'])} over {int(every['n'])} evaluations of {plural(runs, 'run')}"
            f" (an optimistic interval: a run's evaluations are not independent)")
    if np.isfinite(final["r"]):
        text += f"; over the runs' final evaluations {_r(final['r'], final['r_low'], final['r_high'])}"
    return text + "."


def robust_sentence(records: pd.DataFrame, what: str | None) -> str | None:
    points = records.dropna(subset=["ood_acc", "adv_acc"])
    if len(points) < 3:
        return None
    r, low, high = pearson(points["adv_acc"], points["ood_acc"])
    measured = f" ({what})" if what else ""
    return f"Against robust accuracy{measured}, OOD accuracy has {_r(r, low, high)} over the same evaluations."


def final_ood(summaries: pd.DataFrame) -> pd.DataFrame:
    """Per run: its final OOD accuracy with a Wilson interval, and the per-point OOD outcomes at its last
    step (None where the run kept none)."""
    rows = []
    for _, run in summaries.dropna(subset=["final_ood_acc"]).iterrows():
        outcomes = read_outcomes(Path(run["path"])).get(int(run["final_step"]), {})
        flags = outcomes.get("ood")
        low = high = np.nan
        if flags is not None:
            low, high = stats.wilson_interval(int(flags.sum()), len(flags))
        rows.append({"run": run["run"], "strategy": run["strategy"], "domain": run["domain"], "seed": run["seed"],
                     "ood": float(run["final_ood_acc"]), "low": low, "high": high, "flags": flags})
    return pd.DataFrame(rows, columns=["run", "strategy", "domain", "seed", "ood", "low", "high", "flags"])


def best_sentence(summaries: pd.DataFrame) -> str | None:
    """Which run ends with the highest OOD accuracy, against the next one on the same points (paired)."""
    finals = final_ood(summaries).sort_values("ood", ascending=False)
    if len(finals) < 2:
        return None
    best, second = finals.iloc[0], finals.iloc[1]
    text = (f"{strategy_name(best['strategy'])} (trained on {best['domain']}) ends with the highest OOD accuracy, "
            f"{pct(best['ood'])}% {span(best['low'], best['high'])}")
    a, b = best["flags"], second["flags"]
    if a is not None and b is not None and len(a) == len(b):
        diff, low, high = stats.paired_difference_interval(a, b)
        told = "" if low > 0 else ", not told apart at 95%"
        text += (f", {signed(diff)} points {span(low, high, sign=True)} above {strategy_name(second['strategy'])}'s "
                 f"{pct(second['ood'])}% on the same points{told}")
    else:
        text += f", then {strategy_name(second['strategy'])} with {pct(second['ood'])}% {span(second['low'], second['high'])}"
    return text + "."


def final_table(summaries: pd.DataFrame) -> pd.DataFrame:
    """Final OOD accuracy, strategies x training domains, "41.3% [33.8, 49.3]" (several seeds: each listed)."""
    finals = final_ood(summaries)
    if finals.empty:
        return pd.DataFrame()
    finals["text"] = [f"{pct(o)}% {span(lo, hi)}" for o, lo, hi in zip(finals["ood"], finals["low"], finals["high"])]
    cells = finals.groupby(["strategy", "domain"])["text"].agg("; ".join).reset_index()
    return cells.pivot(index="strategy", columns="domain", values="text").fillna("").rename_axis(index=None, columns=None)


def ood_findings(records: pd.DataFrame, summaries: pd.DataFrame, all_records: pd.DataFrame | None = None,
                 what: str | None = None) -> Findings:
    """RQ3's opening: ``records``/``summaries`` of the runs with a training domain; ``all_records`` every run's
    records (corruptions may be measured elsewhere too); ``what`` the robust accuracy in words."""
    everything = records if all_records is None else all_records
    sentences = [s for s in (correlation_sentence(everything, "ood_acc"), correlation_sentence(everything, "corruption_acc"),
                             robust_sentence(records, what), best_sentence(summaries)) if s]
    if not sentences:
        sentences = ["Nothing to tell: no run measured OOD or corruption accuracy."]
    return Findings(sentences[:5])


__all__ = ["MEASURES", "best_sentence", "correlation_sentence", "final_ood", "final_table", "ood_findings",
           "robust_sentence"]
