"""Where an open_clip model's weights come from: an open_clip pretrained tag, or files in open_clip's format.

``pretrained`` of an ``open_clip:<architecture>`` model is

- a pretrained tag of that architecture (``openai``, ``laion2b_s34b_b88k``, ...): open_clip downloads the
  weights through the Hugging Face hub (or its URL) into its cache; offline and not cached, the build is
  refused in one line before anything is written (:func:`check_reachable`);
- a local checkpoint path: a whole CLIP in open_clip's format (``torch.save(model.state_dict())``,
  optionally wrapped in ``{"state_dict": ...}``, or a safetensors file: ``open_clip_pytorch_model.bin``
  of a hub repository is one);
- ``false``: random initialisation (``true`` names no weights and is refused, listing the tags).

``weights: PATH`` is loaded over it: a whole CLIP, or an image tower alone, as the adversarially
fine-tuned CLIPs of TeCoA (Mao et al., ICLR 2023) and FARE (Schlarmann et al., ICML 2024) are published
(``tecoa_eps_4.pt``, ``fare_eps_2.pt``: ``model.visual.state_dict()``, loaded over ``pretrained: openai``
for the text tower). Files are read with ``weights_only=True`` (tensors and plain data, never code) and
loaded strictly: a file that does not fit the architecture is refused naming a tensor.
"""
from __future__ import annotations

import os
from pathlib import Path

from rftlib.core.errors import RftError, unknown_choice

#: Keys by which an image tower's state dict (``model.visual.state_dict()``) is recognised.
IMAGE_TOWER_KEYS = ("conv1.weight", "class_embedding", "trunk.patch_embed.proj.weight")
_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


def is_path(value: str) -> bool:
    """Whether a ``pretrained`` string is a file path rather than a tag."""
    return os.sep in value or "/" in value or value.endswith(_SUFFIXES) or Path(value).expanduser().is_file()


def resolve_source(arch: str, pretrained, weights) -> tuple[str | None, Path | None, Path | None]:
    """``(tag, base file, weights file)`` for ``pretrained`` and ``weights``; RftError (one line) for an
    unknown tag, a missing file, ``pretrained: true`` without a file, or a file with ``pretrained: false``."""
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(arch)
    file = _file(weights, "weights") if weights is not None else None
    if pretrained is False:
        if file is not None:
            raise RftError(f"weights {str(weights)!r} was given with pretrained: false; drop one of them")
        return None, None, None
    if pretrained is True:
        if file is None:
            choice = f"one of its tags ({', '.join(tags)})" if tags else "a local checkpoint path (it has no tags)"
            raise RftError(f"open_clip:{arch} needs pretrained: {choice}, or false for random weights")
        return None, None, file
    if not isinstance(pretrained, str) or not pretrained:
        raise RftError(f"pretrained must be true, false, an open_clip tag or a checkpoint path, got {pretrained!r}")
    if pretrained in tags:
        return pretrained, None, file
    if is_path(pretrained):
        return None, _file(pretrained, "pretrained"), file
    if not tags:
        raise RftError(f"open_clip:{arch} has no pretrained tags; give pretrained a checkpoint path or false")
    raise unknown_choice(f"open_clip:{arch} pretrained tag", pretrained, tags)


def _file(value, what: str) -> Path:
    path = Path(value).expanduser()
    if path.is_dir():
        raise RftError(f"{what} {str(value)!r} is a directory; give the checkpoint file itself")
    if not path.is_file():
        raise RftError(f"{what} file not found: {str(value)!r} (an open_clip checkpoint: .pt, .bin or .safetensors)")
    return path


def check_reachable(arch: str, tag: str) -> None:
    """Fail within seconds, in one line, when the weights of ``arch``/``tag`` are neither cached nor
    downloadable (offline, or the host unreachable); open_clip's own download would retry, then raise
    a many-line error."""
    import open_clip
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    from rftlib.core.hub import hub_offline, unreachable_host

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if cfg.get("file"):
        return
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    if hub:  # open_clip prefers the hub whenever huggingface_hub is installed (it is a dependency)
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)
        names = [filename] if filename else [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        if any(isinstance(try_to_load_from_cache(repo, name), str) for name in names):
            return
    elif url and (Path("~/.cache/clip").expanduser() / os.path.basename(url)).is_file():
        return
    how = ("pass a local checkpoint in open_clip's format (pretrained: PATH or weights: PATH) "
           "or pretrained: false")
    if hub_offline():
        raise RftError(f"offline (HF_HUB_OFFLINE is set) and the open_clip weights {arch}/{tag} are not cached; {how}")
    host = unreachable_host(None if hub else url)
    if host is not None:
        raise RftError(f"cannot reach {host} to download the open_clip weights {arch}/{tag}; {how}")


def read_state_dict(path: Path) -> dict:
    """The tensors of an open_clip checkpoint file (weights only), by name."""
    from open_clip.factory import load_state_dict

    from rftlib.models.weights_header import load_error_summary

    try:
        state = load_state_dict(str(path), weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one clear line
        raise RftError(f"cannot read open_clip checkpoint {str(path)!r}: {load_error_summary(error)}") from None
    if not isinstance(state, dict) or not state:
        raise RftError(f"open_clip checkpoint {str(path)!r} holds no state dict")
    return state


def checkpoint_kind(state: dict, path: Path) -> str:
    """"clip" (a whole CLIP: ``visual.*``, the text tower, ``logit_scale``) or "image" (an image tower
    alone, as TeCoA's and FARE's files); RftError for anything else."""
    if any(key.startswith("visual.") for key in state):
        return "clip"
    if any(key in state for key in IMAGE_TOWER_KEYS):
        return "image"
    raise RftError(f"{str(path)!r} is neither an open_clip checkpoint (visual.*, logit_scale, ...) nor an image "
                   f"tower's state dict (conv1.weight, ...); it starts with {sorted(state)[:3]}")


def load_file(clip, path: Path, *, image_tower_ok: bool) -> str:
    """Load ``path`` into ``clip`` (an open_clip model) strictly; returns its kind ("clip" or "image")."""
    import open_clip
    from open_clip.model import resize_pos_embed

    from rftlib.models.weights_header import load_error_summary

    state = read_state_dict(path)
    kind = checkpoint_kind(state, path)
    try:
        if kind == "clip":
            open_clip.load_checkpoint(clip, str(path), strict=True, weights_only=True)
        elif not image_tower_ok:
            raise RftError(f"{str(path)!r} holds an image tower only; the text tower needs weights too: give its "
                           f"source as pretrained (a tag or a whole checkpoint) and this file as weights")
        else:
            visual = {f"visual.{k}": v for k, v in state.items()}
            resize_pos_embed(visual, clip)  # a checkpoint of another input size, as open_clip does for whole ones
            clip.visual.load_state_dict({k[len("visual."):]: v for k, v in visual.items()}, strict=True)
    except (RuntimeError, KeyError, ValueError) as error:
        if isinstance(error, RftError):
            raise
        raise RftError(f"could not load {str(path)!r} into open_clip {type(clip).__name__}: "
                       f"{load_error_summary(error)}") from None
    return kind


__all__ = ["IMAGE_TOWER_KEYS", "check_reachable", "checkpoint_kind", "is_path", "load_file", "read_state_dict",
           "resolve_source"]
