"""What each robust-accuracy column of a run measured, in words: the attack and its steps, the norm and the
radius. Every axis, heading, table row and sentence of the reports takes its label from here, so none says
more than was measured ("PGD robust accuracy" over a worst case that APGD set, "standard AutoAttack" over a
reduced one).

- ``robust_label(config)``: ``adv_acc``, the per-point worst case over the run's ``attacks``:
  "robust accuracy, worst of PGD-3 and APGD-3, L∞ 1/255";
- ``metric_label(config, metric)``: any robust column (``adv_acc``, ``adv_acc_<label>``, ``curve_<k>_acc``);
- ``threat_of(config, metric)``: (norm, radius) of that column, for one row per threat model actually used;
- ``autoattack_label(entry)``: "AutoAttack (standard, L∞ 1/255)" or "Reduced AutoAttack (...)" from the
  summary's ``autoattack`` entry.

Radii that are whole grey levels print as k/255. Light: reads configuration dicts only.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

NORM_SYMBOLS = {"Linf": "L∞", "L2": "L2", "L1": "L1"}
ATTACK_NAMES = {"pgd": "PGD", "apgd": "APGD", "apgd_t": "APGD-T", "apgd_ce_t": "APGD-CE+T", "autoattack": "AutoAttack"}
_CURVE = re.compile(r"^curve_(\d+)_acc$")
ROBUST = "robust accuracy"


def radius_text(radius: float | None, norm: str = "Linf") -> str:
    """L∞ radii in whole grey levels as k/255 (1/255, 4/255), others as numbers (0.1; an L2 radius of 0.4
    is no grey level)."""
    if radius is None:
        return "?"
    levels = float(radius) * 255
    if norm == "Linf" and levels >= 0.5 and abs(levels - round(levels)) < 1e-6:
        return f"{round(levels)}/255"
    return f"{float(radius):.4g}"


def threat_text(norm: str | None, radius: float | None) -> str:
    """("Linf", 1/255) -> "L∞ 1/255"."""
    norm = norm or "Linf"
    return f"{NORM_SYMBOLS.get(norm, norm)} {radius_text(radius, norm)}"


def _default(name: str, option: str) -> Any:
    from rftlib.attacks.settings import ATTACK_SETTINGS

    try:
        fields = {f.name: f for f in dataclasses.fields(ATTACK_SETTINGS.get(name))}
    except Exception:  # an attack this build does not know: say no steps rather than guess
        return None
    field = fields.get(option)
    return None if field is None or field.default is dataclasses.MISSING else field.default


def attack_text(spec: Mapping[str, Any]) -> str:
    """An attack entry as "PGD-3" (name and steps), "APGD-DLR-100", "APGD-T-3 (3 targets)"."""
    name = spec["name"]
    text = ATTACK_NAMES.get(name, name)
    if name == "apgd" and spec.get("loss", "ce") != "ce":
        text += f"-{str(spec['loss']).upper()}"
    steps = spec.get("steps", _default(name, "steps"))
    if steps is not None:
        text += f"-{steps}"
    targets = spec.get("targets", _default(name, "targets")) if name in ("apgd_t", "apgd_ce_t") else None
    if targets is not None:
        text += f" ({targets} target{'s' if targets != 1 else ''})"
    return text


def attack_specs(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's evaluation attacks, resolved (``RunConfig.attack_specs``)."""
    from rftlib.runs.config import RunConfig

    return RunConfig.from_dict(dict(config)).attack_specs()


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def robust_what(config: Mapping[str, Any], specs: list[dict] | None = None) -> str:
    """The attacks and threat model behind ``adv_acc``: "PGD-3, L∞ 1/255" for one attack, "worst of PGD-3
    and APGD-3, L∞ 1/255" for several (the per-point worst case)."""
    specs = attack_specs(config) if specs is None else specs
    threats = {(spec.get("norm", "Linf"), spec.get("eps")) for spec in specs}
    if len(threats) == 1:
        attacks = _joined([attack_text(spec) for spec in specs])
        (norm, eps), = threats
        head = attacks if len(specs) == 1 else f"worst of {attacks}"
        return f"{head}, {threat_text(norm, eps)}"
    return "worst of " + _joined([f"{attack_text(s)} ({threat_text(s.get('norm'), s.get('eps'))})" for s in specs])


def robust_label(config: Mapping[str, Any], specs: list[dict] | None = None) -> str:
    """What ``adv_acc`` measured: "robust accuracy, worst of PGD-3 and APGD-3, L∞ 1/255"."""
    return f"{ROBUST}, {robust_what(config, specs)}"


def curve_attack(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved attack of the run's robustness curve (without its radius)."""
    curve = dict(config.get("robustness_curve") or {})
    spec = dict(curve.get("attack") or {"name": "pgd"})
    if spec["name"] == "pgd":
        run_attack = config.get("attack") or {}
        spec = {**{k: run_attack[k] for k in ("steps",) if k in run_attack}, **spec}
    return spec


def threat_of(config: Mapping[str, Any], metric: str, specs: list[dict] | None = None) -> tuple[str, float | None, str]:
    """(norm, radius, attacks in words) of a robust column: ``adv_acc`` (the first attack's threat model;
    ``robust_label`` says when they differ), ``adv_acc_<label>`` or ``curve_<k>_acc``."""
    if (match := _CURVE.match(metric)):
        curve = config.get("robustness_curve") or {}
        radius = list(curve.get("radii") or [])[int(match.group(1))]
        return curve.get("norm", "Linf"), float(radius), attack_text(curve_attack(config))
    specs = attack_specs(config) if specs is None else specs
    if metric == "adv_acc":
        chosen = specs
        what = attack_text(specs[0]) if len(specs) == 1 else "worst of " + _joined([attack_text(s) for s in specs])
    else:
        label = metric.removeprefix("adv_acc_")
        chosen = [s for s in specs if s["label"] == label]
        if not chosen:
            return "Linf", None, label
        what = attack_text(chosen[0])
    return chosen[0].get("norm", "Linf"), chosen[0].get("eps"), what


def metric_label(config: Mapping[str, Any], metric: str, specs: list[dict] | None = None) -> str:
    """Any robust-accuracy column in words (see ``threat_of``); other columns by name."""
    if metric == "adv_acc":
        return robust_label(config, specs)
    if metric.startswith("adv_acc_") or _CURVE.match(metric):
        norm, radius, what = threat_of(config, metric, specs)
        return f"{ROBUST}, {what}, {threat_text(norm, radius)}"
    return {"clean_acc": "clean accuracy", "ood_acc": "OOD accuracy"}.get(metric, metric)


def autoattack_label(entry: Mapping[str, Any]) -> str:
    """The summary's ``autoattack`` entry in words: "AutoAttack (standard, L∞ 1/255)", or, unless standard,
    "Reduced AutoAttack (APGD-CE, APGD-T 3 targets, FAB-T, Square; 5 iterations, 50 Square queries; L∞ 4/255)"."""
    options = entry.get("options") or {}
    threat = threat_text(options.get("norm", "Linf"), entry.get("eps", options.get("eps")))
    if entry.get("standard"):
        return f"AutoAttack (standard, {threat})"
    targets = options.get("targets")
    apgd_t = f"APGD-T {targets} targets" if targets is not None else "APGD-T"
    steps, queries = options.get("steps", _default("autoattack", "steps")), options.get(
        "square_queries", _default("autoattack", "square_queries"))
    return (f"Reduced AutoAttack (APGD-CE, {apgd_t}, FAB-T, Square; {steps} iterations, {queries} Square queries; "
            f"{threat})")


__all__ = ["ATTACK_NAMES", "NORM_SYMBOLS", "attack_specs", "attack_text", "autoattack_label", "curve_attack",
           "metric_label", "radius_text", "robust_label", "robust_what", "threat_of", "threat_text"]
