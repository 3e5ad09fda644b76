"""The backbone: any timm model with a new classification head, taking images in pixel space [0, 1].

The paper fine-tunes ViT-B/16 pretrained on ImageNet-21k (the original ViT weights, timm
``vit_base_patch16_224.orig_in21k``) with one new linear head on the CLS token, normalisation
mean = std = 0.5 and dropout 0. The normalisation lives inside :class:`PixelSpaceClassifier`, so
adversarial attacks perturb and clip the [0, 1] image, as the paper's PGD does.

Weights come from the Hugging Face hub (timm's own download and cache), or from a local file given as
``weights=PATH``, loaded through timm's own loading path so its checkpoint filters apply (position
embeddings resampled for another image or patch size, a classifier head of another size dropped).
Offline, asking for hub weights that are not cached fails at once with a message saying what to pass.

A name ``open_clip:<architecture>`` builds an open_clip CLIP's image tower instead (``rftlib.models.clip``),
in the same pixel-space wrapper.
"""
from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from rftlib.core.errors import RftError
from rftlib.core.hub import hub_offline, unreachable_host
from rftlib.models.clip_names import is_clip_name
from rftlib.models.pixel_space import PixelSpaceClassifier  # noqa: F401  re-exported: where models lived
from rftlib.models.timm_names import check_model_name  # torch-free: configurations check names without torch
from rftlib.models.weights_header import load_error_summary  # noqa: F401  re-exported

PAPER_MODEL = "vit_base_patch16_224.orig_in21k"

# timm reports the checkpoint keys it could not fill only through this logger (at INFO level).
_TIMM_BUILDER_LOGGER = "timm.models._builder"


def build_model(
    name: str = PAPER_MODEL,
    num_classes: int = 10,
    pretrained: bool | str = True,
    weights: str | os.PathLike | None = None,
    **timm_kwargs,
) -> PixelSpaceClassifier:
    """Build ``name`` (any timm model, optionally ``arch.tag``) with a new ``num_classes`` head.

    ``open_clip:<architecture>`` builds an open_clip CLIP's image tower instead
    (:func:`rftlib.models.clip.build_clip`): ``pretrained`` is then an open_clip tag, a checkpoint path or
    False, and ``class_names=``, ``templates=`` make the head CLIP's zero-shot classifier (``keep_text=True``
    keeps the text tower, for FLYP).

    Args:
        name: timm model name; the default is the paper's ViT-B/16 ImageNet-21k backbone.
        num_classes: size of the new classification head (timm's ``num_classes``).
        pretrained: load pretrained weights (from the hub, or from ``weights``). False: random init.
        weights: a local weight file (safetensors, or a timm/torch checkpoint) to load instead of the
            hub. A classifier head of a size other than ``num_classes`` in it is dropped and the new
            head initialised; a head of the same size is kept (timm's rule, applied to the file's
            own head size rather than the size timm's registry declares for the hub weights).
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``img_size=32, patch_size=4``,
            ``device="meta"`` to count parameters without allocating). Dropout and drop-path rates
            default to 0, as in the paper.

    Raises:
        RftError: unknown model or tag, missing weight file, a weight file that does not fit the
            model, or hub weights asked for while offline and not cached.
    """
    if is_clip_name(name):  # an open_clip CLIP: its image tower and a (zero-shot) head
        from rftlib.models.clip import build_clip

        return build_clip(name, num_classes, pretrained, weights, **timm_kwargs)
    check_model_name(name)
    path = None
    if weights is not None:
        if not pretrained:
            raise RftError(f"weights={str(weights)!r} was given with pretrained=False; drop one of them")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise RftError(f"weights file not found: {str(path)!r} (a .safetensors file or a timm/torch checkpoint)")
    elif pretrained:
        check_hub_weights_reachable(name)

    kwargs = {"drop_rate": 0.0, "drop_path_rate": 0.0, **timm_kwargs}
    overlay = None
    if path is not None:
        import timm

        registry_cfg = timm.models.get_pretrained_cfg(name)
        classifier = (registry_cfg.classifier if registry_cfg else None) or "head"
        # timm drops the checkpoint's head only when the requested num_classes differs from the
        # head size its pretrained_cfg declares; declaring the file's actual head size makes it drop
        # exactly a head of the wrong size, whatever the registry says about the hub weights.
        overlay = {"file": str(path), "num_classes": checkpoint_head_size(path, classifier)}

    backbone = _create(name, num_classes, pretrained, overlay, kwargs, path)
    if overlay is not None and registry_cfg is not None:  # the registry's description, not our overlay
        backbone.pretrained_cfg["num_classes"] = registry_cfg.num_classes
    cfg = backbone.pretrained_cfg
    return PixelSpaceClassifier(backbone, tuple(cfg["mean"]), tuple(cfg["std"]))


def _create(name, num_classes, pretrained, overlay, kwargs, path) -> nn.Module:
    import timm

    try:
        with _missing_keys_reported() as report:
            backbone = timm.create_model(
                name, pretrained=pretrained, num_classes=num_classes, pretrained_cfg_overlay=overlay, **kwargs
            )
    except TypeError as error:  # a timm_kwargs key the model's constructor does not take
        raise RftError(f"timm model {name!r} rejected its arguments: {error}") from None
    except (RuntimeError, OSError, ValueError, KeyError, pickle.UnpicklingError) as error:
        if not pretrained:
            raise
        source = f"weights file {str(path)!r}" if path else "pretrained weights"
        raise RftError(f"could not load {source} into {name!r}: {load_error_summary(error)}") from None
    if pretrained:
        head = backbone.pretrained_cfg.get("classifier") or "head"
        missing = [k for k in report.missing if not k.startswith(f"{head}.")]
        if missing:
            # timm loads non-strictly when it drops a head; a checkpoint whose names do not match
            # (e.g. saved from a wrapper module) would otherwise leave the backbone silently random.
            source = f"weights file {str(path)!r}" if path else "pretrained weights"
            raise RftError(
                f"{source} lacks {len(missing)} tensors of {name!r} (e.g. {missing[0]!r}); "
                f"is it a checkpoint of this model?"
            )
    return backbone




class _KeyReport(logging.Handler):
    """Collects the missing checkpoint keys timm logs while loading pretrained weights.

    timm returns nothing from its loader and only logs ``Missing keys (a, b) discovered ...``; should
    that wording change, this check finds nothing and stays silent (it never fails a good load).
    """

    def __init__(self):
        super().__init__(level=logging.INFO)
        self.missing: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Missing keys ("):
            self.missing += [k.strip() for k in message[len("Missing keys ("):].split(")")[0].split(",")]


@contextmanager
def _missing_keys_reported() -> Iterator[_KeyReport]:
    logger = logging.getLogger(_TIMM_BUILDER_LOGGER)
    report, old_level = _KeyReport(), logger.level
    logger.addHandler(report)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield report
    finally:
        logger.removeHandler(report)
        logger.setLevel(old_level)


def checkpoint_head_size(path: Path, classifier: str) -> int:
    """Rows of ``{classifier}.weight`` in the checkpoint at ``path``; 0 when it holds no head."""
    key = f"{classifier}.weight"
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:  # reads the header only
                keys = list(handle.keys())
                name = _head_key(keys, key)
                return handle.get_slice(name).get_shape()[0] if name else 0
        try:  # zip checkpoints memory-map: no copy of the weights is read here
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one clear line
        raise RftError(f"cannot read weights file {str(path)!r}: {load_error_summary(error)}") from None
    if isinstance(checkpoint, dict):
        for wrapper in ("state_dict_ema", "model_ema", "state_dict", "model"):  # timm's preference order
            if isinstance(checkpoint.get(wrapper), dict):
                checkpoint = checkpoint[wrapper]
                break
        name = _head_key(list(checkpoint), key)
        if name is not None and hasattr(checkpoint[name], "shape"):
            return int(checkpoint[name].shape[0])
    return 0


def _head_key(keys: list[str], key: str) -> str | None:
    for candidate in (key, f"module.{key}"):  # timm strips a DataParallel "module." prefix
        if candidate in keys:
            return candidate
    return None


def check_hub_weights_reachable(name: str) -> None:
    """Fail within seconds when the hub weights of ``name`` are neither cached nor downloadable."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise RftError(f"timm has no pretrained weights for {name!r}; pass weights=PATH or pretrained=False")
    if cfg.file or _weights_cached(cfg):
        return
    how = (
        f"pass a local file with weights=PATH (e.g. the {name!r} weights saved with safetensors) "
        f"or use pretrained=False"
    )
    if hub_offline():
        raise RftError(f"offline (HF_HUB_OFFLINE is set) and the weights of {name!r} are not cached; {how}")
    host = unreachable_host(cfg.url if (cfg.url and not cfg.hf_hub_id) else None)
    if host is not None:
        raise RftError(f"cannot reach {host} to download the weights of {name!r}; {how}")


def _weights_cached(cfg) -> bool:
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo_id, _, revision = cfg.hf_hub_id.partition("@")
        # timm asks for the safetensors file first, then the pickle it names by default
        for filename in (cfg.hf_hub_filename, "model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            if filename and isinstance(try_to_load_from_cache(repo_id, filename, revision=revision or None), str):
                return True
        return False
    return (Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)).is_file()


