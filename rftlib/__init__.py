"""rftlib: what fine-tuning does to a pretrained model's robustness.

Reproduces and extends "On the Robustness Tradeoff in Fine-Tuning" (Li et al., ICCV 2025): a timm
ViT fine-tuned with seven strategies while clean accuracy, PGD robustness and OOD accuracy are
measured on an adaptive schedule, summarised by Pareto frontiers and their area.

The public names below are imported on first use, so ``import rftlib`` stays fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "build_model": "rftlib.models",
    "apply_strategy": "rftlib.strategies",
    "strategy_config": "rftlib.strategies",
    "trainable_parameters": "rftlib.strategies",
    "STRATEGIES": "rftlib.strategies",
    "EvalSchedule": "rftlib.runs.schedule",
    "RunConfig": "rftlib.runs.config",
    "finetune": "rftlib.training",
    "RunResult": "rftlib.training",
    "RftError": "rftlib.core.errors",
}

# Subpackages reachable as attributes after a plain `import rftlib` (`rftlib.attacks.PGD`), and the modules
# the README names by their short name (`from rftlib import pareto, results, uncertainty`), imported on first use.
_SUBMODULES = {name: f"rftlib.{name}" for name in (
    "core", "stats", "models", "strategies", "data", "attacks", "remedies", "runs", "tracking", "training",
    "posthoc", "analysis", "figures", "sweep", "bench")}
_SUBMODULES.update({
    "pareto": "rftlib.stats.pareto",
    "config": "rftlib.runs.config",
    "results": "rftlib.analysis.results",
    "uncertainty": "rftlib.analysis.uncertainty",
    "theory": "rftlib.analysis.theory",
    "errors": "rftlib.core.errors",
})

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(_SUBMODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'rftlib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))
