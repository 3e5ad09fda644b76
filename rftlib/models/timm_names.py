"""timm's model names, pretrained tags and default input sizes, without importing timm.

Checking a model name against timm's registry needs every timm model module imported (over a second,
after torch's seconds): too slow for a configuration refused in one line. ``timm_names.json`` beside
this module is a snapshot of that registry for one timm version; where the installed timm is that
version the snapshot answers, otherwise timm's live registry does (slow but right). A test compares
the snapshot with the live registry, so a timm upgrade without a new snapshot fails it.

Regenerate after upgrading timm::

    python -m rftlib.models.timm_names
"""
from __future__ import annotations

import difflib
import functools
import json
from importlib import metadata
from pathlib import Path

from rftlib.core.errors import RftError, unknown_choice

SNAPSHOT = Path(__file__).with_name("timm_names.json")


@functools.lru_cache(maxsize=1)
def _snapshot() -> dict[str, list] | None:
    """``{arch: [default input side, {tag: input side}]}`` when the snapshot is of the installed timm."""
    try:
        stored = json.loads(SNAPSHOT.read_text())
        installed = metadata.version("timm")
    except (OSError, ValueError, metadata.PackageNotFoundError):
        return None
    return stored["models"] if stored.get("timm") == installed else None


def live_registry() -> dict[str, list]:
    """timm's registry in the snapshot's form (imports timm and all its models)."""
    import timm

    models = {}
    for arch in timm.list_models():
        cfg = timm.get_pretrained_cfg(arch)
        models[arch] = [int(cfg.input_size[-1]) if cfg is not None else None, {}]
    for name in timm.list_pretrained():
        arch, tag = name.split(".", 1)
        models[arch][1][tag] = int(timm.get_pretrained_cfg(name).input_size[-1])
    return models


def registry() -> dict[str, list]:
    """The snapshot where it matches the installed timm, else timm's live registry."""
    return _snapshot() or _live()


@functools.lru_cache(maxsize=1)
def _live() -> dict[str, list]:
    return live_registry()


def split_name(name: str) -> tuple[str, str]:
    """``arch.tag`` -> (arch, tag), as ``timm.models.split_model_name_tag`` (tag "" when absent)."""
    arch, _, tag = name.partition(".")
    return arch, tag


def model_names() -> list[str]:
    """Every architecture name, in ``timm.list_models()``'s (natural) order."""
    return list(registry())


def is_model(name: str) -> bool:
    """Whether the architecture of ``name`` (tag ignored) is registered (``timm.is_model``)."""
    return split_name(name)[0] in registry()


def pretrained_tags(arch: str) -> list[str]:
    """The pretrained tags of ``arch``, in ``timm.list_pretrained(f"{arch}.*")``'s order."""
    return list(registry().get(arch, [None, {}])[1])


def default_input_size(name: str) -> int | None:
    """The input side of ``name``'s pretrained configuration (``timm.get_pretrained_cfg(name).input_size``):
    the tag's, or the default tag's; None for an unknown architecture or tag."""
    arch, tag = split_name(name)
    entry = registry().get(arch)
    if entry is None:
        return None
    return entry[1].get(tag) if tag else entry[0]


def check_model_name(name: str) -> tuple[str, str]:
    """Split ``arch.tag`` and check both exist in timm's registry (nothing is built); RftError with
    close matches otherwise."""
    if not isinstance(name, str) or not name:
        raise RftError(f"model name must be a timm model name, got {name!r}")
    arch, tag = split_name(name)
    if not is_model(arch):
        close = difflib.get_close_matches(arch, model_names(), n=5, cutoff=0.6)
        hint = f" (close: {', '.join(close)})" if close else ""
        family = arch.split("_")[0]
        raise RftError(
            f"unknown timm model {arch!r}{hint}; search with timm.list_models('*{family}*')"
        )
    if tag:
        tags = pretrained_tags(arch)
        if tag not in tags:
            raise unknown_choice(f"{arch} pretrained tag", tag, tags)
    return arch, tag


def write_snapshot(path: Path = SNAPSHOT) -> None:
    """Write the installed timm's registry as the snapshot."""
    import timm

    path.write_text(json.dumps({"timm": timm.__version__, "models": live_registry()}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    write_snapshot()
    print(f"wrote {SNAPSHOT} for timm {metadata.version('timm')}")
