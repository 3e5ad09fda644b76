"""Fine-tuning runs with continuous evaluation (see ``loop.py`` for the loop itself).

The names below are loaded from ``loop.py`` on first use (PEP 562), so importing one of the package's
modules (``rftlib.config`` checks objectives with ``rftlib.training.objectives``) does not load the
training loop, which imports ``rftlib.config``: no import cycle through this package. It also
keeps torch out of ``rft run --help`` (``rftlib.training.command`` builds its parser without it)."""
from __future__ import annotations

from ..lazy import lazy_exports

_FROM_LOOP = ("finetune", "RunResult", "TrainingDiverged", "load_result")

__all__ = list(_FROM_LOOP)

__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(_FROM_LOOP, "loop"))
