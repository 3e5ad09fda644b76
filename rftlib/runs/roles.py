"""The role a run plays in the study, in plain words, from its configuration alone.

A run is a task run ("plain"), a known-answer control of the feature model ("control+": non-robust codes
that predict the label, so robust accuracy must fall; "control−": no codes, so it must not), and it may
carry remedies (RQ4: L2-SP, LP-FT, an ε-schedule, robust checkpoint selection, a WiSE-FT α-curve). Every
report title and row, the sweep's index page and the MLflow run names and tags say it the same way
(``role_text``), so a control or a remedy run is never mistaken for a seed of a plain run.

Light: reads configuration dicts (``config.yaml``), imports nothing heavy.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONTROL_DATASET = "feature_model"
POSITIVE, NEGATIVE = "control+", "control−"
PLAIN = "plain"
#: Remedy slugs (``rftlib.analysis.remedies.remedy_label`` joins them with "+") and their names in reports.
#: Strategies in prose (the slugs stay in tables and legends, where they match the configuration).
STRATEGY_NAMES = {"full": "full fine-tuning", "linear_probe": "linear probing", "lora": "LoRA", "adapter": "Adapter",
                  "compacter": "Compacter", "bitfit": "BitFit", "ia3": "(IA)³"}
REMEDY_NAMES = {"lp_ft": "LP-FT", "l2_sp": "L2-SP", "eps_schedule": "ε-schedule", "robust_val": "robust selection",
                "flyp": "FLYP", "wise_ft": "WiSE-FT"}


def training_remedies(config: Mapping[str, Any]) -> list[str]:
    """The slugs of the remedies that change what a run trains or keeps, in a fixed order (WiSE-FT, which
    only adds an α-curve at the end, is not one)."""
    found = []  # "None: off" for each (RunConfig); an empty mapping is the remedy with its defaults
    if config.get("lp_ft") is not None:
        found.append("lp_ft")
    if config.get("l2_sp") is not None:
        found.append("l2_sp")
    if (config.get("objective_options") or {}).get("eps_schedule") is not None:
        found.append("eps_schedule")
    if config.get("final_model") == "robust_val":
        found.append("robust_val")
    if config.get("objective") == "flyp":  # FLYP (CLIP backbones): the contrastive objective is the remedy
        found.append("flyp")
    return found


def control_kind(config: Mapping[str, Any]) -> str | None:
    """"control+" or "control−" for a run on the feature model's controls, else None."""
    if config.get("dataset") != CONTROL_DATASET:
        return None
    strength = (config.get("dataset_options") or {}).get("nonrobust_strength")
    if strength is None:  # the dataset's default strength: codes present (rftlib.data.feature_model)
        return POSITIVE
    return POSITIVE if float(strength) > 0 else NEGATIVE


@dataclass(frozen=True)
class Role:
    """``task``: "plain", "control+" or "control−"; ``remedies``: the training remedies' slugs;
    ``wise_ft``: whether the run ends with a WiSE-FT α-curve."""

    task: str
    remedies: tuple[str, ...] = ()
    wise_ft: bool = False

    @property
    def is_remedy(self) -> bool:
        return bool(self.remedies) or self.wise_ft

    def remedy_text(self) -> str:
        """"L2-SP + WiSE-FT", or "" without remedies."""
        names = [REMEDY_NAMES[r] for r in self.remedies] + (["WiSE-FT"] if self.wise_ft else [])
        return " + ".join(names)

    def text(self) -> str:
        """"plain", "control+", "remedy: L2-SP", "control+, remedy: robust selection", ..."""
        remedy = self.remedy_text()
        if not remedy:
            return self.task
        return f"remedy: {remedy}" if self.task == PLAIN else f"{self.task}, remedy: {remedy}"


def run_role(config: Mapping[str, Any]) -> Role:
    """The role of the run configured by ``config`` (a resolved ``config.yaml`` or ``RunConfig.to_dict()``)."""
    return Role(task=control_kind(config) or PLAIN, remedies=tuple(training_remedies(config)),
                wise_ft=config.get("wise_ft") is not None)


def role_text(config: Mapping[str, Any]) -> str:
    return run_role(config).text()


def strategy_name(strategy: str) -> str:
    return STRATEGY_NAMES.get(strategy, strategy)


def task_label(config: Mapping[str, Any]) -> str:
    """The task as a short column label: "digits", "synthetic-d0", "control+" / "control−"."""
    return (control_kind(config) or config["dataset"]) + (f"-{config['domain']}" if config.get("domain") else "")


def task_name(config: Mapping[str, Any]) -> str:
    """The task in words: "digits", "synthetic (domain d0)", "feature model (control+)"."""
    kind = control_kind(config)
    if kind:
        return f"feature model ({kind})"
    domain = config.get("domain")
    dataset = config.get("dataset", "")
    return f"{dataset} (domain {domain})" if domain else str(dataset)


def run_title(config: Mapping[str, Any]) -> str:
    """"full fine-tuning on digits, seed 0 — plain", "LoRA on feature model (control+), seed 0 — control+"."""
    return (f"{strategy_name(config.get('strategy', ''))} on {task_name(config)}, seed {config.get('seed', 0)} — "
            f"{role_text(config)}")


__all__ = ["CONTROL_DATASET", "NEGATIVE", "PLAIN", "POSITIVE", "REMEDY_NAMES", "STRATEGY_NAMES", "Role",
           "control_kind", "role_text", "task_label", "run_role", "run_title", "strategy_name", "task_name", "training_remedies"]
