"""open_clip model names, without importing open_clip (or torch): ``open_clip:<architecture>``.

An open_clip architecture is a JSON configuration: the ones shipped in the ``open_clip_torch`` package
(``open_clip/model_configs/*.json``: ``ViT-B-16``, ``ViT-L-14``, ...) and rftlib's own in
``clip_configs/`` beside this module (``RFT-Tiny-CLIP``: 2 blocks of width 64 per tower, 32-px inputs,
for tests and CPU runs). Both are read here as files, so a configuration naming an unknown architecture
is refused in one line before torch loads; ``rftlib.models.clip`` registers rftlib's directory with
``open_clip.add_model_config`` when it builds a model. Pretrained tags (``openai``, ``laion2b_...``)
live in open_clip's Python code and are checked where the model is built or checked on the meta device.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

from rftlib.core.errors import RftError, closest

#: Model names with this prefix are open_clip architectures: ``open_clip:ViT-B-16``.
PREFIX = "open_clip:"
#: rftlib's own open_clip configurations.
CONFIG_DIR = Path(__file__).with_name("clip_configs")
#: The CPU-sized CLIP of the tests and of ``params/runs/clip_tiny.yaml``.
TINY_CLIP = f"{PREFIX}RFT-Tiny-CLIP"


def is_clip_name(name: object) -> bool:
    """Whether ``name`` names an open_clip model (``open_clip:<architecture>``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


def clip_architecture(name: str) -> str:
    """``open_clip:ViT-B-16`` -> ``ViT-B-16`` (open_clip spells ``ViT-B/16`` with a dash too)."""
    return name[len(PREFIX):].replace("/", "-")


@functools.lru_cache(maxsize=1)
def _configs() -> dict[str, Path]:
    """Architecture -> its JSON file: open_clip's shipped configurations, then rftlib's."""
    found = {}
    spec = importlib.util.find_spec("open_clip")  # locates the package without importing it
    for folder in [Path(p) / "model_configs" for p in (spec.submodule_search_locations or [])] if spec else []:
        found.update((path.stem, path) for path in sorted(folder.glob("*.json")))
    found.update((path.stem, path) for path in sorted(CONFIG_DIR.glob("*.json")))
    return found


def clip_architectures() -> list[str]:
    """Every open_clip architecture rftlib can build."""
    return sorted(_configs())


def clip_config(name: str) -> dict:
    """The JSON configuration of ``open_clip:<architecture>`` (checked first)."""
    return json.loads(_configs()[check_clip_name(name)].read_text())


def check_clip_name(name: str) -> str:
    """The architecture of ``open_clip:<architecture>``; RftError naming the close ones when unknown, or
    when open_clip_torch is not installed."""
    arch = clip_architecture(name)
    if not arch:
        raise RftError(f"model {name!r} names no open_clip architecture; e.g. {PREFIX}ViT-B-16")
    if importlib.util.find_spec("open_clip") is None:
        raise RftError(f"model {name!r} needs open_clip_torch (pip install open_clip_torch==3.3.0)")
    if arch not in _configs():
        hint = closest(arch, _configs())
        did_you_mean = f" (did you mean {PREFIX}{hint}?)" if hint else ""
        raise RftError(f"unknown open_clip architecture {arch!r}{did_you_mean}; list them with "
                       f"rftlib.models.clip_names.clip_architectures()")
    return arch


def default_input_size(name: str) -> int | None:
    """The input side of the architecture's image tower (``vision_cfg.image_size``); None if unknown."""
    try:
        size = clip_config(name)["vision_cfg"].get("image_size", 224)
    except (RftError, KeyError, OSError, ValueError):
        return None
    return int(size) if isinstance(size, int) else int(size[-1])


__all__ = ["CONFIG_DIR", "PREFIX", "TINY_CLIP", "check_clip_name", "clip_architecture", "clip_architectures",
           "clip_config", "default_input_size", "is_clip_name"]
