"""Fine-tuning runs with continuous evaluation (see ``loop.py`` for the loop itself).

The names below are loaded from ``loop.py`` on first use (PEP 562), so importing one of the package's
modules (``rftlib.runs.config`` checks objectives with ``rftlib.training.objectives``) does not load the
training loop, which imports ``rftlib.runs.config``: no import cycle through this package. It also
keeps torch out of ``rft run --help`` (``rftlib.training.command`` builds its parser without it).

Also here: configurations resolved from ``params/`` (``params``), upstream pretraining (``upstream``), and the
training stages of remedies: LP-FT's probe stage (``lp_ft``, ``probe_head``), robust checkpoint selection
(``best``) and the WiSE-FT α-curve at the end of a run (``wise_ft``); for open_clip models, the run's zero-shot
head (``zero_shot``) and FLYP's contrastive loss (``flyp``, the objective ``flyp``).

May use: every room below it (core ... tracking)."""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports

_FROM_LOOP = ("finetune", "RunResult", "TrainingDiverged", "load_result")

__all__ = list(_FROM_LOOP)

__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(_FROM_LOOP, "loop"))
