"""Fine-tuning runs with continuous evaluation (see ``loop.py`` for the loop itself).

The names below are imported on first use (PEP 562), so that ``rft run --help`` can import
``rftlib.training.command`` without torch.
"""
from __future__ import annotations

import importlib

__all__ = ["finetune", "RunResult", "TrainingDiverged", "load_result"]


def __getattr__(name: str):
    if name in __all__:
        value = getattr(importlib.import_module(f"{__name__}.loop"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
