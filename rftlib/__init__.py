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
    "EvalSchedule": "rftlib.schedule",
    "RunConfig": "rftlib.config",
    "finetune": "rftlib.training",
    "RunResult": "rftlib.training",
    "RftError": "rftlib.errors",
}

# Subpackages and modules reachable as attributes after a plain `import rftlib` (`rftlib.attacks.PGD`),
# imported on first use like the names above.
_SUBMODULES = ("attacks", "bench", "config", "data", "devices", "errors", "models", "numerics", "pareto",
               "plots", "records", "results", "rundir", "schedule", "strategies", "sweep", "theory",
               "tracking", "training", "upstream")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"rftlib.{name}")  # the import sets the attribute too
    raise AttributeError(f"module 'rftlib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))
