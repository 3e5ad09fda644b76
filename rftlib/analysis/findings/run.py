"""RQ1's opening for one run: did robust accuracy fall from its peak while clean accuracy rose, and what the
other measurements of the run (each attack alone, AutoAttack, the robustness curve, OOD accuracy) add.

The peak is the one every figure and table of the study uses: the evaluation with the highest ``adv_acc``
(the per-point worst case over the run's attacks), the first of equals (``uncertainty.tradeoff_summary``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rftlib.analysis import uncertainty
from rftlib.analysis.calibration import autoattack_gap
from rftlib.analysis.findings import Findings, joined, pct, signed, span
from rftlib.analysis.results import attack_labels, read_config, read_summary
from rftlib.runs import measures
from rftlib.runs.roles import run_title

def _at(frame, step: int, column: str) -> tuple[float, float, float]:
    row = frame[frame["step"] == step].iloc[0]
    return float(row[column]), float(row.get(f"{column}_low", np.nan)), float(row.get(f"{column}_high", np.nan))


def verdict_sentence(verdict: dict[str, Any], bands, what: str) -> str:
    """The headline: trade-off, no trade-off seen, or a fall that cannot be told apart from noise. ``what``:
    the attacks and threat model of the robust accuracy (``measures.robust_what``)."""
    peak, final = verdict["peak_step"], verdict["final_step"]
    clean, clean_low, clean_high = _at(bands, final, "clean_acc")
    robust, robust_low, robust_high = _at(bands, final, "adv_acc")
    label = f"robust accuracy ({what})"
    if verdict["verdict"] == uncertainty.TRADEOFF:
        change = (f"{signed(verdict['clean_change'])} points "
                  f"{span(verdict['clean_change_low'], verdict['clean_change_high'], sign=True)}")
        return (f"Trade-off: {label} fell {pct(verdict['drop'])} points {span(verdict['drop_low'], verdict['drop_high'])} "
                f"from its peak of {pct(verdict['peak_adv_acc'])}% at step {peak} to {pct(robust)}% at step {final}, "
                f"while clean accuracy went to {pct(clean)}% {span(clean_low, clean_high)} ({change} from the peak).")
    if peak == final:
        return (f"No trade-off seen: {label} was still at its highest at the last step, {pct(robust)}% "
                f"{span(robust_low, robust_high)} at step {final}, with clean accuracy {pct(clean)}% "
                f"{span(clean_low, clean_high)}.")
    if verdict["drop"] <= 0:
        return (f"No trade-off seen: {label} reached its highest, {pct(robust)}% {span(robust_low, robust_high)}, "
                f"at step {peak} and kept it to the last step ({final}), with clean accuracy {pct(clean)}% "
                f"{span(clean_low, clean_high)}.")
    if verdict["verdict"] == uncertainty.UNKNOWN:
        return (f"No verdict: {label} peaked at {pct(verdict['peak_adv_acc'])}% (step {peak}) and ended at "
                f"{pct(robust)}% (step {final}), but the run kept neither per-sample outcomes nor its evaluation size.")
    return (f"No trade-off can be told apart: {label} ended {pct(verdict['drop'])} points "
            f"{span(verdict['drop_low'], verdict['drop_high'])} below its peak of {pct(verdict['peak_adv_acc'])}% at step "
            f"{peak}, not beyond chance once the peak's choice among the earlier evaluations is allowed for; clean "
            f"accuracy ended at {pct(clean)}% {span(clean_low, clean_high)}.")


def attacks_sentence(config: dict, bands, final_step: int) -> str | None:
    """Each attack alone at the end, when there are several (the worst case may be any one of them)."""
    labels = attack_labels(c for c in bands.columns if not str(c).endswith(("_low", "_high")))
    if len(labels) < 2:
        return None
    specs = {spec["label"]: spec for spec in measures.attack_specs(config)}
    parts = []
    for label in labels:
        value, low, high = _at(bands, final_step, f"adv_acc_{label}")
        name = measures.attack_text(specs[label]) if label in specs else label
        parts.append(f"{name} {pct(value)}% {span(low, high)}")
    return f"At the last step each attack alone left robust: {joined(parts)}; the robust accuracy above is their per-point worst case."


def autoattack_sentence(run_dir: Path, summary: dict, config: dict) -> str | None:
    """AutoAttack at the end against the run's PGD on the same points, with Newcombe's paired interval."""
    gap = autoattack_gap(run_dir, summary, config, "final")
    if gap is None:
        return None
    entry = summary["autoattack"]
    text = (f"{measures.autoattack_label(entry)} on {gap['n']} points at the end left {pct(gap['aa'])}% "
            f"{span(gap['aa_low'], gap['aa_high'])} robust")
    if np.isfinite(gap["gap"]) and gap["gap"] == 0:
        text += (f", as many as PGD on the same points (difference {span(gap['gap_low'], gap['gap_high'], sign=True)} "
                 f"points)")
    elif np.isfinite(gap["gap"]):
        text += (f", {pct(gap['gap'])} points {span(gap['gap_low'], gap['gap_high'], sign=True)} below PGD's "
                 f"{pct(gap['pgd'])}% on the same points")
    return text + "."


def curve_sentence(summary: dict, config: dict) -> str | None:
    curve = summary.get("robustness_curve")
    if not curve:
        return None
    attack = measures.attack_text(measures.curve_attack(config))
    radii, acc = curve["radii"], curve["acc"]
    first = f"{pct(acc[0])}% {span(curve['acc_low'][0], curve['acc_high'][0])} at {measures.threat_text(curve['norm'], radii[0])}"
    last = (f"{pct(acc[-1])}% {span(curve['acc_low'][-1], curve['acc_high'][-1])} at "
            f"{measures.radius_text(radii[-1], curve['norm'])}")
    return (f"Over radii ({attack}, step {curve['step']}), robust accuracy went from {first} to {last}; the normalised "
            f"area under the curve is {curve['auc']:.2f} {span(curve['auc_low'], curve['auc_high'], 2, 1)}.")


def ood_sentence(bands, final_step: int) -> str | None:
    if "ood_acc" not in bands or bands["ood_acc"].isna().all():
        return None
    value, low, high = _at(bands, final_step, "ood_acc")
    clean, _, _ = _at(bands, final_step, "clean_acc")
    return (f"Out of distribution it ended at {pct(value)}% {span(low, high)}, {signed(value - clean)} points from its "
            f"clean accuracy.")


def run_findings(run_dir: str | Path) -> Findings:
    """The opening of one run's RQ1 report (2-5 sentences)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    summary = read_summary(run_dir) or {}
    bands, verdict = uncertainty.run_tradeoff(run_dir)
    sentences = [verdict_sentence(verdict, bands, measures.robust_what(config))]
    for sentence in (attacks_sentence(config, bands, verdict["final_step"]), autoattack_sentence(run_dir, summary, config),
                     curve_sentence(summary, config), ood_sentence(bands, verdict["final_step"])):
        if sentence:
            sentences.append(sentence)
    return Findings(sentences[:5], title=run_title(config))


__all__ = ["run_findings", "verdict_sentence"]
