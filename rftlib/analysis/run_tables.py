"""One run's tables for its RQ1 report, instead of raw dicts: its settings, its evaluations, and AutoAttack
against PGD on the same points, every robust column labelled with what it measured."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

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
    """AutoAttack against PGD on the same points, at the end and at the robustness peak (one row when they
    are the same step): accuracies with Wilson intervals and the paired gap with Newcombe's interval
    (``calibration.autoattack_gap``). None without end-of-run AutoAttack."""
    from rftlib.analysis.calibration import autoattack_gap

    final, peak = (autoattack_gap(run_dir, summary, config, which) for which in ("final", "peak"))
    rows = []
    for name, gap in (("at the end", final), ("at the robustness peak", peak)):
        if gap is None or (name != "at the end" and final is not None and gap["step"] == final["step"]):
            continue
        if name == "at the end" and peak is not None and peak["step"] == gap["step"]:
            name += " (also the robustness peak)"
        rows.append({"": name, "step": gap["step"], "AutoAttack": f"{pct(gap['aa'])}% {span(gap['aa_low'], gap['aa_high'])}",
                     "PGD": f"{pct(gap['pgd'])}% {span(gap['pgd_low'], gap['pgd_high'])}",
                     "PGD − AutoAttack, points": f"{signed(gap['gap'])} {span(gap['gap_low'], gap['gap_high'], sign=True)}"})
    return pd.DataFrame(rows).set_index("").rename_axis(None) if rows else None


__all__ = ["KEY_SETTINGS", "autoattack_table", "config_table", "evaluations_table"]
