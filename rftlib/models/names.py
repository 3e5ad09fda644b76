"""Model names of either source, without torch: a timm model (``vit_base_patch16_224.orig_in21k``,
:mod:`rftlib.models.timm_names`) or an open_clip one (``open_clip:ViT-B-16``,
:mod:`rftlib.models.clip_names`)."""
from __future__ import annotations

from rftlib.core.errors import RftError
from rftlib.models import clip_names, timm_names


def check_model_name(name: str) -> None:
    """RftError (one line, with close matches) unless ``name`` is a known timm or open_clip model."""
    if clip_names.is_clip_name(name):
        clip_names.check_clip_name(name)
    else:
        timm_names.check_model_name(name)


def default_input_size(name: str) -> int | None:
    """The input side ``name`` is built for by default; None where its configuration does not say."""
    if clip_names.is_clip_name(name):
        return clip_names.default_input_size(name)
    return timm_names.default_input_size(name)


def check_pretrained(name: str, pretrained) -> None:
    """``pretrained`` is true or false for a timm model (its tag is part of the name); an open_clip model
    also takes a tag or a checkpoint path (checked against open_clip's tags where it is built)."""
    if isinstance(pretrained, bool) or (clip_names.is_clip_name(name) and isinstance(pretrained, str) and pretrained):
        return
    if isinstance(pretrained, str) and not clip_names.is_clip_name(name):
        raise RftError(f"pretrained is true or false for the timm model {name!r} (a timm tag goes in the model name, "
                       f"e.g. vit_base_patch16_224.augreg_in21k); open_clip models take tags: "
                       f"model: open_clip:ViT-B-16, pretrained: openai")
    raise RftError(f"pretrained must be true, false, or (open_clip models) a tag or checkpoint path, "
                   f"got {pretrained!r}")


__all__ = ["check_model_name", "check_pretrained", "default_input_size"]
