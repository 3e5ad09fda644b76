"""RQ4's opening: per setting (task and strategy), which remedy ends most robust at a clean accuracy within a
stated tolerance of plain fine-tuning's, by how much, with its paired interval; where no remedy changes
anything; and what WiSE-FT's α-curve adds."""
from __future__ import annotations

import pandas as pd

from rftlib.analysis.findings import Findings, joined, pct, plural, signed, span
from rftlib.analysis.remedies import remedy_name, setting_name, wise_ft_differences

TOLERANCE = 0.02  # clean accuracy a remedy may lose against plain fine-tuning and still count (2 points)
MAX_SETTINGS = 4  # beyond this many settings, the opening counts them instead of naming each


def _change(row, metric: str) -> str:
    return f"{signed(row[f'd_{metric}'])} points {span(row[f'd_{metric}_low'], row[f'd_{metric}_high'], sign=True)}"


def _cost(row, metric: str) -> str:
    """A loss as a positive number of points with its interval: "20.0 points [13.9, 27.1]"."""
    return f"{pct(-row[f'd_{metric}'])} points {span(-row[f'd_{metric}_high'], -row[f'd_{metric}_low'])}"


def _changes_anything(row) -> bool:
    return bool(row["d_adv_significant"] or row["d_clean_significant"])


def setting_sentence(rows: pd.DataFrame, tolerance: float = TOLERANCE) -> str:
    """One setting: the best remedy within the clean tolerance, the others' trade, or that nothing changes."""
    first = rows.iloc[0]
    where = setting_name(first["task"], first["strategy"])
    if not any(_changes_anything(row) for _, row in rows.iterrows()):
        listed = joined([f"{remedy_name(r['remedy'])} {_change(r, 'adv')} robust" for _, r in rows.iterrows()])
        return (f"On {where}, no remedy changes anything: every difference from plain fine-tuning has a 95% interval "
                f"that includes 0 ({listed}).")
    within = rows[rows["d_clean"] >= -tolerance]
    beyond = rows[rows["d_clean"] < -tolerance]
    tol = f"{100 * tolerance:g}"
    if len(within):
        best = within.loc[within["d_adv"].idxmax()]
        if best["d_adv_low"] > 0:
            text = (f"On {where}, {remedy_name(best['remedy'])} ends most robust with clean accuracy within {tol} points "
                    f"of plain fine-tuning's: robust accuracy {_change(best, 'adv')}, clean {_change(best, 'clean')}")
        else:
            text = (f"On {where}, no remedy within {tol} points of plain fine-tuning's clean accuracy ends more robust "
                    f"than it (the largest change, {remedy_name(best['remedy'])}'s, is {_change(best, 'adv')})")
    else:
        text = f"On {where}, no remedy keeps clean accuracy within {tol} points of plain fine-tuning's"
    if len(beyond):
        text += "; " + joined([f"{remedy_name(r['remedy'])} changes robust accuracy by {_change(r, 'adv')} but costs "
                               f"{_cost(r, 'clean')} of clean accuracy" for _, r in beyond.iterrows()])
    return text + "."


def wise_ft_sentence(points: pd.DataFrame, tolerance: float = TOLERANCE) -> str | None:
    """Per run with an α-curve: the α (0 < α < 1) of highest robust accuracy whose clean accuracy is within the
    tolerance of the fine-tuned end point's (α = 1), against that end point on the same points (paired)."""
    parts = []
    for (run, start), curve in points.groupby(["run", "start"], sort=False):
        curve = curve.sort_values("alpha")
        end = curve[curve["alpha"] == 1.0]
        if end.empty:
            continue
        end_clean = float(end["clean_acc"].iloc[0])
        inside = curve[(curve["alpha"] > 0) & (curve["alpha"] < 1) & (curve["clean_acc"] >= end_clean - tolerance)]
        where = f"{setting_name(curve['task'].iloc[0], curve['strategy'].iloc[0])} ({curve['role'].iloc[0]})"
        if inside.empty:
            parts.append(f"on {where} no interior α keeps clean accuracy within {100 * tolerance:g} points of the "
                         f"fine-tuned model's")
            continue
        best = inside.loc[inside["adv_acc"].idxmax()]
        differences = wise_ft_differences(curve["path"].iloc[0], start, metrics=("adv_acc", "clean_acc"))
        row = differences[differences["alpha"] == best["alpha"]].iloc[0]
        robust = f"{signed(row['adv_acc_diff'])} points {span(row['adv_acc_diff_low'], row['adv_acc_diff_high'], sign=True)}"
        clean = f"{signed(row['clean_acc_diff'])} {span(row['clean_acc_diff_low'], row['clean_acc_diff_high'], sign=True)}"
        told = "" if row["adv_acc_diff_low"] > 0 or row["adv_acc_diff_high"] < 0 else ", not told apart at 95%"
        parts.append(f"on {where} α = {best['alpha']:g} (from the {start} start) reaches {pct(best['adv_acc'])}% robust, "
                     f"{robust} over the fine-tuned model with clean {clean}{told}")
    if not parts:
        return None
    return "WiSE-FT: " + "; ".join(parts) + "."


def remedy_findings(table: pd.DataFrame, points: pd.DataFrame, tolerance: float = TOLERANCE,
                    reason: str | None = None) -> Findings:
    """RQ4's opening from ``analysis.remedies.comparisons`` (``table``) and ``wise_ft_points`` (``points``)."""
    sentences = []
    if len(table):
        settings = list(table.groupby(["task", "strategy", "seed", "objective"], sort=False, dropna=False))
        # Settings where a remedy changes something first: the headline is what the remedies did.
        settings.sort(key=lambda item: not any(_changes_anything(row) for _, row in item[1].iterrows()))
        if len(settings) <= MAX_SETTINGS:
            sentences += [setting_sentence(rows, tolerance) for _, rows in settings]
        else:
            helped = [rows for _, rows in settings if (rows["d_adv_low"] > 0).any()]
            sentences.append(f"Some remedy ends more robust than plain fine-tuning (95%) in {len(helped)} of "
                             f"{plural(len(settings), 'setting')}; the table below gives each difference.")
    wise = wise_ft_sentence(points, tolerance) if len(points) else None
    if wise:
        sentences.append(wise)
    if not sentences:
        sentences = [reason or "Nothing to compare: no remedy run with a plain counterpart, no WiSE-FT curve."]
    return Findings(sentences[:5])


__all__ = ["TOLERANCE", "remedy_findings", "setting_sentence", "wise_ft_sentence"]
