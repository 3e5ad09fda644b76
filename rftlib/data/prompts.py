"""Class names and prompt templates for zero-shot CLIP heads, per dataset (no torch).

The templates are data (``prompt_templates.json`` beside this module), as CLIP and WiSE-FT publish them:

==============  ====================  ===============================================================
dataset         template set          source
==============  ====================  ===============================================================
cifar10, 100    clip_cifar (18)       CLIP's CIFAR-10/100 templates ("a blurry photo of a {}.", ...)
caltech256      clip_caltech101 (34)  CLIP's Caltech-101 templates (CLIP has none for Caltech-256)
cub200          clip_birdsnap (1)     "a photo of a {}, a type of bird." (CLIP's bird dataset, Birdsnap)
stanford_dogs   clip_oxford_pets (1)  "a photo of a {}, a type of pet." (CLIP's pet dataset)
domainnet       openai_imagenet (80)  CLIP's ImageNet ensemble (sketches, paintings, cartoons, ...), as
                                      WiSE-FT and FLYP use it
digits          clip_mnist (1)        'a photo of the number: "{}".'
any other       simple (1)            "a photo of a {}." (WiSE-FT's simple template)
==============  ====================  ===============================================================

Class names come from each dataset (``Task.class_names``), made readable the way CLIP's lists are:
underscores become spaces (CIFAR-100's ``aquarium_fish`` -> "aquarium fish", CLIP's own spelling) and
a numbering prefix is dropped (CUB's ``001.Black_footed_Albatross``, Caltech's ``001.ak47``, Stanford
Dogs' WordNet ``n02085620-Chihuahua``).
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from rftlib.core.errors import unknown_choice

TEMPLATES_FILE = Path(__file__).with_name("prompt_templates.json")
#: Dataset -> its template set (the rest use DEFAULT_TEMPLATES).
DATASET_TEMPLATES = {"cifar10": "clip_cifar", "cifar100": "clip_cifar", "caltech256": "clip_caltech101",
                     "cub200": "clip_birdsnap", "stanford_dogs": "clip_oxford_pets", "domainnet": "openai_imagenet",
                     "digits": "clip_mnist"}
DEFAULT_TEMPLATES = "simple"

_PREFIXES = re.compile(r"^(\d+\.|n\d{8}-)")  # "001." (CUB, Caltech), "n02085620-" (WordNet ids)


@dataclass(frozen=True)
class Prompts:
    """What a zero-shot head is built from: ``class_names`` (readable), ``templates`` (with ``{}``), and
    the template set's ``name`` and ``source``."""

    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    name: str
    source: str

    def describe(self) -> dict:
        """For a run's summary: the template set, its source and size, and the class names used."""
        return {"templates": self.name, "source": self.source, "n_templates": len(self.templates),
                "class_names": list(self.class_names)}


@functools.lru_cache(maxsize=1)
def template_sets() -> dict[str, dict]:
    """Every template set: ``{name: {"source": ..., "templates": [...]}}``."""
    return json.loads(TEMPLATES_FILE.read_text())


def templates_for(dataset: str, name: str | None = None) -> tuple[str, tuple[str, ...], str]:
    """(set name, templates, source) of ``dataset``'s template set, or of the set ``name``."""
    sets = template_sets()
    name = name or DATASET_TEMPLATES.get(dataset, DEFAULT_TEMPLATES)
    if name not in sets:
        raise unknown_choice("prompt template set", name, sets)
    return name, tuple(sets[name]["templates"]), sets[name]["source"]


def readable_class_name(name: str) -> str:
    """A dataset's class name as a prompt says it: numbering prefix dropped, underscores as spaces."""
    return " ".join(_PREFIXES.sub("", str(name)).replace("_", " ").split())


def zero_shot_prompts(dataset: str, class_names, templates: str | None = None) -> Prompts:
    """The class names and templates of ``dataset`` (``templates``: another set by name)."""
    name, chosen, source = templates_for(dataset, templates)
    return Prompts(tuple(readable_class_name(c) for c in class_names), chosen, name, source)


__all__ = ["DATASET_TEMPLATES", "DEFAULT_TEMPLATES", "Prompts", "readable_class_name", "template_sets",
           "templates_for", "zero_shot_prompts"]
