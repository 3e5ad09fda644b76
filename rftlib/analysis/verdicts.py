"""RQ4's verdict per setting: which remedy ends most robust while keeping clean accuracy, by how much.

A *setting* is one plain run (``analysis.remedies.remedy_runs``: no remedy; a WiSE-FT α-curve does not
count as one) with every remedy run that pairs with it (the same configuration once the remedy is taken
out, so the same evaluation points and attack seeds). Its *candidates* are the end points a practitioner
could ship instead of the plain fine-tuned model:

- each remedy run's final model (``l2_sp``, ``lp_ft``, ``eps_schedule``, ``robust_val``);
- each interior point θ_α (0 < α < 1) of a WiSE-FT α-curve: the plain run's ("WiSE-FT α=…") and a remedy
  run's ("L2-SP + WiSE-FT α=…"). α = 1 is the fine-tuned end point itself; α = 0 is not fine-tuning.

A candidate is *eligible* when its clean accuracy is at least the plain end point's minus ``tolerance``.
The verdict names the eligible candidate of highest final robust accuracy and its difference from the
plain end point with Newcombe's paired interval on the shared evaluation points
(``rftlib.stats.paired_difference_interval``). Picking the best of m eligible candidates is itself a
selection, so the call "it helps" uses the Bonferroni-adjusted interval (level 1 − (1 − confidence) / m),
as ``analysis.uncertainty.tradeoff_summary`` does for the peak. Where that interval includes 0, no remedy
changes final robust accuracy at that clean accuracy. Reads run directories only (no torch).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rftlib import stats
from rftlib.analysis.remedies import remedy_name, remedy_runs, setting_name  # remedy_name: re-exported, the reports' names
from rftlib.runs.outcomes import read_step_outcomes

#: Default clean-accuracy tolerance: a remedy may cost at most this much clean accuracy (5 points; at 2, no
#: remedy of the demo's positive control qualifies, its fine-tuned end point being at clean accuracy 1.00).
TOLERANCE = 0.05
HELPS, NO_CHANGE, WORSE, NONE_ELIGIBLE = "helps", "no change", "worse", "none eligible"
_IDENTITY = ("model", "strategy", "dataset", "domain", "objective", "seed")
COLUMNS = [*_IDENTITY, "run", "task", "tolerance", "plain_clean_acc", "plain_adv_acc", "candidates", "eligible", "best",
           "best_run", "best_clean_acc", "best_adv_acc", "d_adv", "d_adv_low", "d_adv_high", "d_adv_low_adjusted",
           "d_adv_high_adjusted", "d_clean", "d_clean_low", "d_clean_high", "verdict", "n"]


def _wise_ft_candidates(run_dir: str, prefix: str) -> list[dict]:
    from rftlib.training.wise_ft import load_wise_ft, read_wise_ft_outcomes

    rows = load_wise_ft(run_dir)
    candidates = []
    for row in (rows.to_dict("records") if len(rows) else []):
        if not 0 < row["alpha"] < 1:
            continue
        outcomes = read_wise_ft_outcomes(run_dir, row["alpha"], row["start"])
        start = "" if row["start"] == "probe" else f", start {row['start']}"
        candidates.append(dict(label=f"{prefix}WiSE-FT α={row['alpha']:g}{start}", run=Path(run_dir).name,
                               clean=outcomes["clean"], robust=outcomes["robust"]))
    return candidates


def setting_candidates(plain: pd.Series, remedies: pd.DataFrame) -> list[dict]:
    """The candidates of the setting of ``plain`` (a ``remedy_runs`` row), ``remedies`` its remedy runs:
    dicts with label, run, clean and robust (boolean outcomes on the plain run's evaluation points)."""
    candidates = _wise_ft_candidates(plain["path"], "")
    for _, run in remedies.iterrows():
        final = read_step_outcomes(run["path"], int(run["final_step"]))
        candidates.append(dict(label=remedy_name(run["remedy"]), run=run["run"], clean=final["clean"],
                               robust=final["robust"]))
        candidates += _wise_ft_candidates(run["path"], remedy_name(run["remedy"]) + " + ")
    return candidates


def decide(end: dict, candidates: list[dict], tolerance: float = TOLERANCE,
           confidence: float = stats.CONFIDENCE) -> dict:
    """The verdict over ``candidates`` (dicts with label, run, clean, robust: boolean outcomes) against the
    plain end point ``end`` ({"clean": ..., "robust": ...} on the same points); the fields of
    ``remedy_verdicts`` from ``plain_clean_acc`` on (see the module docstring)."""
    n = len(end["robust"])
    row = dict(tolerance=tolerance, plain_clean_acc=float(np.mean(end["clean"])),
               plain_adv_acc=float(np.mean(end["robust"])), n=n)
    candidates = [c for c in candidates if len(c["robust"]) == n]
    eligible = [c for c in candidates if np.mean(c["clean"]) >= row["plain_clean_acc"] - tolerance - 1e-12]
    row.update(candidates=len(candidates), eligible=len(eligible))
    if not eligible:
        return row | dict(verdict=NONE_ELIGIBLE)
    best = max(eligible, key=lambda c: (np.mean(c["robust"]), np.mean(c["clean"])))  # ties: the more accurate
    adjusted = 1 - (1 - confidence) / len(eligible)
    d_adv, low, high = stats.paired_difference_interval(best["robust"], end["robust"], confidence)
    _, low_adj, high_adj = stats.paired_difference_interval(best["robust"], end["robust"], adjusted)
    d_clean, clean_low, clean_high = stats.paired_difference_interval(best["clean"], end["clean"], confidence)
    return row | dict(best=best["label"], best_run=best.get("run"), best_clean_acc=float(np.mean(best["clean"])),
                      best_adv_acc=float(np.mean(best["robust"])), d_adv=d_adv, d_adv_low=low, d_adv_high=high,
                      d_adv_low_adjusted=low_adj, d_adv_high_adjusted=high_adj, d_clean=d_clean,
                      d_clean_low=clean_low, d_clean_high=clean_high,
                      verdict=HELPS if low_adj > 0 else WORSE if high_adj < 0 else NO_CHANGE)


def setting_verdict(plain: pd.Series, remedies: pd.DataFrame, tolerance: float = TOLERANCE,
                    confidence: float = stats.CONFIDENCE) -> dict:
    """One row of ``remedy_verdicts`` for the setting of ``plain`` (a ``remedy_runs`` row; ``remedies``:
    the remedy runs that pair with it)."""
    end = read_step_outcomes(plain["path"], int(plain["final_step"]))
    identity = {k: plain.get(k) for k in _IDENTITY} | {"run": plain["run"], "task": plain["task"]}
    return identity | decide(end, setting_candidates(plain, remedies), tolerance, confidence)


def remedy_verdicts(summaries: pd.DataFrame, tolerance: float = TOLERANCE,
                    confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """One row per plain run with a remedy to weigh (a remedy run pairing with it, or its own WiSE-FT
    curve), in ``COLUMNS``: the setting's identity, the plain end point's clean and robust accuracy,
    how many candidates there were and how many kept clean accuracy within ``tolerance``, the best
    eligible one (``best``, e.g. "WiSE-FT α=0.3" or "L2-SP + WiSE-FT α=0.5") with ``d_adv`` (best −
    plain final robust accuracy), its ``confidence`` interval and the interval adjusted for picking
    the best, ``d_clean`` with its interval, and ``verdict``: "helps" (adjusted interval above 0),
    "no change" (it includes 0), "worse" (below 0: every eligible remedy ends less robust) or "none
    eligible". ``summaries``: ``results.load_summaries``."""
    if summaries.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame = remedy_runs(summaries)
    frame = frame[frame["final_step"].notna()]
    rows = []
    for _, plain in frame[frame["remedy"] == "plain"].drop_duplicates("base").iterrows():
        remedies = frame[(frame["base"] == plain["base"]) & (frame["remedy"] != "plain")]
        if remedies.empty and not plain["has_wise_ft"]:
            continue
        rows.append(setting_verdict(plain, remedies, tolerance, confidence))
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per ``remedy_verdicts`` row, with its numbers."""
    pp = lambda x: f"{100 * x:+.1f}"  # noqa: E731
    sentences = []
    for _, row in table.iterrows():
        where = f"{row['task']} / {row['strategy']} (seed {row['seed']})"  # control+/control−, as in the reports
        within = f"clean accuracy within {100 * row['tolerance']:.0f} points of plain fine-tuning's {row['plain_clean_acc']:.3f}"
        if row["verdict"] == NONE_ELIGIBLE:
            sentences.append(f"{where}: none of the {row['candidates']} remedy end points keeps {within}.")
            continue
        numbers = (f"{row['best']} ends at robust accuracy {row['best_adv_acc']:.3f} against {row['plain_adv_acc']:.3f}, "
                   f"{pp(row['d_adv'])} pp [{pp(row['d_adv_low'])}, {pp(row['d_adv_high'])}] "
                   f"({pp(row['d_adv_low_adjusted'])} pp at the lower end after adjusting for picking the best of "
                   f"{row['eligible']}), clean {pp(row['d_clean'])} pp; n = {row['n']}")
        if row["verdict"] == HELPS:
            sentences.append(f"{where}: with {within}, {numbers}: it is the most robust remedy.")
        elif row["verdict"] == WORSE:
            sentences.append(f"{where}: with {within}, every remedy ends less robust than plain fine-tuning: "
                             f"the best, {numbers}.")
        else:
            sentences.append(f"{where}: with {within}, no remedy changes final robust accuracy: the best, {numbers}.")
    return sentences


def verdict_table_text(table: pd.DataFrame) -> pd.DataFrame:
    """``remedy_verdicts`` as one readable row per setting: the best eligible candidate and its difference
    from plain fine-tuning's final model (remedy − plain, points, with the interval adjusted for picking the
    best), or a dash where no candidate kept clean accuracy within the tolerance."""
    def points(value, low=None, high=None) -> str:
        if pd.isna(value):
            return "—"
        text = f"{100 * value:+.1f}"
        return text if low is None else f"{text} [{100 * low:+.1f}, {100 * high:+.1f}]"

    rows = [{"setting": setting_name(row["task"], row["strategy"]), "objective": row["objective"], "seed": row["seed"],
             "best candidate": row["best"] if isinstance(row["best"], str) else "—",
             "eligible": f"{row['eligible']} of {row['candidates']}",
             "robust, points (adjusted 95%)": points(row["d_adv"], row["d_adv_low_adjusted"], row["d_adv_high_adjusted"]),
             "clean, points": points(row["d_clean"]), "verdict": row["verdict"]} for _, row in table.iterrows()]
    return pd.DataFrame(rows).set_index("setting").rename_axis(None) if rows else pd.DataFrame()


__all__ = ["COLUMNS", "HELPS", "decide", "NONE_ELIGIBLE", "NO_CHANGE", "WORSE", "TOLERANCE", "remedy_name", "remedy_verdicts",
           "setting_candidates", "setting_verdict", "verdict_sentences", "verdict_table_text"]
