"""Backbones: ``build_model`` (any timm model with a new head, taking pixels in [0, 1] and normalising inside),
the snapshot of timm's model names checked without torch (``timm_names``) and the safety of a weights file
read from its first bytes (``weights_header``). ``open_clip:<architecture>`` names an open_clip CLIP whose
image tower starts as the zero-shot classifier of the task (``clip``, with ``clip_names`` torch-free,
``clip_attention``, ``clip_text``, ``clip_weights``); ``names`` checks a name of either kind.

``build_model`` and the other names below are loaded from ``build`` on first use, so checking a model name
(``rftlib.models.timm_names``) does not import torch.

May use: core.
"""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports

_FROM_BUILD = ("build_model", "PixelSpaceClassifier", "PAPER_MODEL", "load_error_summary")
__all__ = list(_FROM_BUILD)
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(_FROM_BUILD, "build"))
