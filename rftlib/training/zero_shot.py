"""A run's open_clip model starts as the zero-shot CLIP classifier of its task (``model: open_clip:...``).

The head is built from the task's class names under its dataset's prompt templates
(``rftlib.data.prompts``), on the run's device; the run's summary says which (``zero_shot``: the template
set, its source, the class names). Step 0 of the records is therefore the zero-shot model's clean, robust
and OOD accuracy, and WiSE-FT's ``start: zeroshot`` interpolates from it: the zero-shot head is kept
(``model.rft_zero_shot``) before LP-FT's probe stage could replace it.
"""
from __future__ import annotations

import torch
from torch import nn

from rftlib.data.prompts import Prompts, zero_shot_prompts
from rftlib.models.clip_names import is_clip_name


def run_prompts(config, task) -> Prompts | None:
    """The class names and templates of the run's zero-shot head; None for a model without one (timm)."""
    return zero_shot_prompts(config.dataset, task.class_names) if is_clip_name(config.model) else None


def clip_build_options(config, task, device) -> dict:
    """``build_model``'s zero-shot arguments for the run (none for a timm model): the prompts, the text
    tower kept for FLYP, the head computed on the run's device."""
    prompts = run_prompts(config, task)
    if prompts is None:
        return {}
    return {"class_names": prompts.class_names, "templates": prompts.templates,
            "keep_text": config.objective == "flyp", "head_device": device}


def head_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The head's tensors by parameter name (a copy on the CPU): the zero-shot head, taken at build time."""
    from rftlib.training.probe_head import head_names

    names = set(head_names(model))
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if name in names}


__all__ = ["clip_build_options", "head_state", "run_prompts"]
