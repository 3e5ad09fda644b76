"""One run's tables for its RQ1 report, instead of raw dicts: its settings, its evaluations, and AutoAttack
against PGD on the same points, every robust column labelled with what it measured."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rftlib import stats
from rftlib.analysis.findings import pct, signed, span
from rftlib.analysis.results import attack_labels
from rftlib.runs import measures
from rftlib.runs.roles import role_text

#: Settings shown first, in this order; the rest follow as they are (the full configuration is config.yaml).
KEY_SETTINGS = ("model", "strategy", "dataset", "domain", "dataset_options", "seed", "objective", "max_steps",
                "batch_size", "lr", "weight_decay", "eval_size", "weights", "upstream")


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def config_table(config: dict[str, Any]) -> pd.DataFrame:
    """The run's settings, one row each: its role and what its robust accuracy measured first, then the key
    settings, then every other non-empty one."""
    rows = [("role", role_text(config)), ("robust accuracy", measures.robust_what(config))]
    rows += [(key, _text(config[key])) for key in KEY_SETTINGS if config.get(key) not in (None, {}, [])]
    shown = set(KEY_SETTINGS) | {"attack", "attacks"}
    rows += [(key, _text(value)) for key, value in config.items() if key not in shown and value not in (None, {}, [])]
    return pd.DataFrame(rows, columns=["setting", "value"]).set_index("setting").rename_axis(None)


def evaluations_table(records: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """Every evaluation: step, clean, robust (worst case), each attack, OOD and the curve's radii where
    measured, as percentages; columns named by what they measured."""
    specs = measures.attack_specs(config)
    columns = {"clean_acc": "clean"}
    columns["adv_acc"] = measures.robust_what(config, specs)
    labels = attack_labels(records.columns)
    if len(labels) > 1:
        by_label = {spec["label"]: spec for spec in specs}
        columns.update({f"adv_acc_{label}": measures.attack_text(by_label[label]) if label in by_label else label
                        for label in labels})
    if "ood_acc" in records and records["ood_acc"].notna().any():
        columns["ood_acc"] = "OOD"
    if "corruption_acc" in records and records["corruption_acc"].notna().any():
        columns["corruption_acc"] = "corruptions (mean)"
    table = records.set_index("step")[list(columns)].rename(columns=columns)
    table.index = [f"step {step}" for step in table.index]
    return (100 * table.astype(float)).round(1)


def autoattack_table(run_dir: str | Path, summary: dict[str, Any], config: dict[str, Any]) -> pd.DataFrame | None:
    """AutoAttack against PGD on the same points, at the end and at the robustness peak: accuracies with
    Wilson intervals and the paired gap with Newcombe's interval. None without end-of-run AutoAttack."""
    from rftlib.analysis.findings.run import AUTOATTACK_FLAGS
    from rftlib.runs.outcomes import read_outcomes

    entry = summary.get("autoattack") or {}
    path = Path(run_dir) / AUTOATTACK_FLAGS
    if not entry or not path.exists():
        return None
    pgd_key = next((f"robust_{s['label']}" for s in measures.attack_specs(config) if s["name"] == "pgd"), None)
    outcomes = read_outcomes(run_dir)
    rows = []
    with np.load(path) as flags:
        positions = flags["positions"]
        final_step = (entry.get("final") or {}).get("step")
        for which in ("final", "peak"):
            part = entry.get(which)
            if not part or f"{which}_robust" not in flags or (which == "peak" and part["step"] == final_step):
                continue  # the peak at the last step: the same model, one row
            robust = flags[f"{which}_robust"].astype(bool)
            low, high = stats.wilson_interval(int(robust.sum()), len(robust))
            peak_too = which == "final" and (entry.get("peak") or {}).get("step") == part["step"]
            row = {"model": ("at the end" + (" (also the robustness peak)" if peak_too else "")) if which == "final"
                   else "at the robustness peak", "step": part["step"],
                   "AutoAttack": f"{pct(robust.mean())}% {span(low, high)}"}
            step_outcomes = outcomes.get(int(part["step"]), {})
            if pgd_key in step_outcomes:
                pgd = step_outcomes[pgd_key][positions]
                plow, phigh = stats.wilson_interval(int(pgd.sum()), len(pgd))
                gap, glow, ghigh = stats.paired_difference_interval(pgd, robust)
                row.update({"PGD": f"{pct(pgd.mean())}% {span(plow, phigh)}",
                            "PGD − AutoAttack, points": f"{signed(gap)} {span(glow, ghigh, sign=True)}"})
            rows.append(row)
    return pd.DataFrame(rows).set_index("model").rename_axis(None) if rows else None


__all__ = ["KEY_SETTINGS", "autoattack_table", "config_table", "evaluations_table"]
