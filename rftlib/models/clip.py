"""open_clip models as backbones: ``build_model("open_clip:ViT-B-16", 10, pretrained="openai")``.

The image tower of an open_clip CLIP (``open_clip_torch``; Radford et al. 2021, Ilharco et al. 2021)
becomes a classifier as WiSE-FT and FLYP make it: a Linear head on the normalised image embedding,
``logits = head(normalise(visual(x)))``. Given the class names and prompt templates of the task, the head
starts as CLIP's zero-shot classifier (:mod:`rftlib.models.clip_text`), so step 0 of a run is the
zero-shot model; without them it is a fresh Linear, as a timm model's new head. Pixels in [0, 1] are
normalised inside the model with the weights' own mean and std (OpenAI's for most tags), as for every
rftlib model; the image is resized to the model's input side by the data pipeline (bilinear, no crop),
not by CLIP's bicubic resize and centre crop.

The image tower's attention (torch's ``nn.MultiheadAttention``) is replaced by
:class:`rftlib.models.clip_attention.ClipAttention`, the same function with ``in_proj`` and ``out_proj``
as Linear modules, so that the seven strategies can enter it (``rftlib.strategies.families.clip``).
With ``keep_text=True`` the text tower stays in the model (``model.text``) for FLYP
(``rftlib.training.flyp``); otherwise it is dropped once the head is built, and parameter counts are
those of the image tower and head, as for timm models.

Weights: ``pretrained`` is an open_clip tag, a checkpoint path or false; ``weights`` a whole CLIP or an
image tower (robust CLIPs) loaded over it (:mod:`rftlib.models.clip_weights`). A tag whose weights were
trained with QuickGELU (OpenAI's) builds the architecture with QuickGELU, as those weights need.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError
from rftlib.models.clip_attention import convert_attention
from rftlib.models.clip_names import CONFIG_DIR, check_clip_name, clip_config
from rftlib.models.clip_text import ClipTextTower
from rftlib.models.pixel_space import PixelSpaceClassifier
from rftlib.models.weights_header import load_error_summary

#: model_kwargs an open_clip model takes: the input side (open_clip's force_image_size; pretrained
#: position embeddings are resized to it).
CLIP_KWARGS = ("img_size",)


class ClipImageClassifier(nn.Module):
    """An open_clip image tower with a linear head on its normalised embedding.

    Attributes:
        visual: open_clip's image tower (its VisionTransformer's attention converted to ClipAttention).
        head: Linear(embedding, classes); the zero-shot classifier when built with class names.
        pretrained_cfg: ``architecture``, ``tag``, ``mean``, ``std``, ``input_size`` (3, H, W), as timm's.
    """

    def __init__(self, visual: nn.Module, embed_dim: int, num_classes: int, pretrained_cfg: dict):
        super().__init__()
        self.visual = visual
        device = next(visual.parameters()).device
        # No head for 0 classes (features only), as timm's models
        self.head = nn.Linear(embed_dim, num_classes, device=device) if num_classes else nn.Identity()
        self.pretrained_cfg = pretrained_cfg

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised image embedding of normalised pixels ``x``."""
        return F.normalize(self.visual(x), dim=-1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """timm's interface: the logits of ``forward_features``' output, or (``pre_logits``) that output."""
        return features if pre_logits else self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    @property
    def num_classes(self) -> int:
        return int(getattr(self.head, "out_features", 0))


class ClipClassifier(PixelSpaceClassifier):
    """A :class:`PixelSpaceClassifier` over a :class:`ClipImageClassifier`, with the text tower for FLYP.

    With ``head_from_text`` (set by FLYP) the head is not a free parameter: it is the zero-shot
    classifier of the *current* text tower and logit scale, as FLYP evaluates with the zero-shot head of
    its fine-tuned text encoder. It is recomputed (in fp32, without gradient) before a forward pass
    whenever the text tower changed since the head was last computed: an optimiser step, a loaded or
    interpolated state (in-place writes, which bump the Parameters' version counters) or a move to another
    device; an attack's thousands of forward passes reuse it. (A write through ``.data`` bumps no version:
    call ``sync_head(force=True)`` after one.)

    Attributes:
        text: the ClipTextTower, or None once dropped.
        head_from_text: whether the head follows the text tower.
    """

    def __init__(self, backbone: ClipImageClassifier, mean, std, text: ClipTextTower | None = None):
        super().__init__(backbone, mean, std)
        self.text = text
        self.head_from_text = False
        self._text_stamp = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head_from_text:
            self.sync_head()
        return super().forward(x)

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised image embedding of pixels ``x`` in [0, 1]."""
        return self.backbone.forward_features((x - self.mean) / self.std)

    def set_zero_shot_head(self) -> None:
        """Head weight = exp(logit_scale)·class embeddings of the text tower's prompts, bias = 0."""
        if self.text is None:
            raise RftError("the zero-shot head needs the text tower, which this model no longer holds")
        head = self.backbone.head
        if self.text.prompts.shape[0] != head.out_features:
            raise RftError(f"{self.text.prompts.shape[0]} class prompts for a head of {head.out_features} classes")
        with torch.no_grad(), torch.autocast(self.mean.device.type, enabled=False):
            head.weight.copy_(self.text.zero_shot_weight())
            head.bias.zero_()

    def sync_head(self, force: bool = False) -> None:
        """Recompute the head from the text tower if it changed since the head was last computed."""
        stamp = tuple((p.data_ptr(), p._version) for p in self.text.parameters())
        if force or stamp != self._text_stamp:
            with torch.no_grad(), torch.autocast(self.mean.device.type, enabled=False):
                self.backbone.head.weight.copy_(self.text.zero_shot_weight())
            self._text_stamp = stamp


def build_clip(name: str, num_classes: int = 10, pretrained=True, weights=None, *, class_names=None,
               templates=None, keep_text: bool = False, head_device=None, device=None,
               **model_kwargs) -> ClipClassifier:
    """Build ``open_clip:<architecture>`` (see the module docstring); the head is the zero-shot classifier
    of ``class_names`` under ``templates`` when both are given, computed on ``head_device`` (default: where
    the model is built; the model returns there). ``keep_text``: keep the text tower (``model.text``, for
    FLYP). ``device="meta"`` builds without memory (parameter counts, placement checks; random weights)."""
    import open_clip

    from rftlib.models.clip_weights import check_reachable, load_file, resolve_source

    arch = check_clip_name(name)
    unknown = sorted(set(model_kwargs) - set(CLIP_KWARGS))
    if unknown:
        raise RftError(f"open_clip models take model_kwargs {', '.join(CLIP_KWARGS)}; got {', '.join(unknown)}")
    _register_configs()
    tag, base, extra = resolve_source(arch, pretrained, weights)
    meta = device is not None and torch.device(device).type == "meta"
    if meta and (tag or base or extra or class_names):
        raise RftError("an open_clip model on the meta device holds no weights: build it with pretrained=False")
    if tag is not None:
        check_reachable(arch, tag)
    tag_cfg = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    options = {"force_quick_gelu": bool(tag_cfg.get("quick_gelu")), "force_image_size": model_kwargs.get("img_size")}
    try:
        with _quiet_open_clip(), (torch.device("meta") if meta else _no_context()):
            clip = open_clip.create_model(arch, pretrained=tag, device="meta" if meta else "cpu", **options)
    except RftError:
        raise
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        source = f"pretrained weights {arch}/{tag}" if tag else f"open_clip:{arch}"
        raise RftError(f"could not build {source}: {load_error_summary(error)}") from None
    if base is not None:
        load_file(clip, base, image_tower_ok=False)
    if extra is not None:  # an image tower alone needs the text tower's weights from a tag or a whole checkpoint
        load_file(clip, extra, image_tower_ok=tag is not None or base is not None)

    preprocess = open_clip.get_model_preprocess_cfg(clip)
    mean, std = tuple(tag_cfg.get("mean", preprocess["mean"])), tuple(tag_cfg.get("std", preprocess["std"]))
    convert_attention(getattr(getattr(clip.visual, "transformer", None), "resblocks", ()))
    size = getattr(clip.visual, "image_size", None) or preprocess["size"]
    size = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    cfg = {"architecture": arch, "tag": tag, "mean": mean, "std": std, "input_size": (3, *size)}
    embed_dim = int(clip_config(name)["embed_dim"])
    model = ClipClassifier(ClipImageClassifier(clip.visual, embed_dim, num_classes, cfg), mean, std)
    if (class_names is None) != (templates is None):
        raise RftError("a zero-shot head needs both the class names and the prompt templates")
    if class_names is not None or keep_text:
        model.text = ClipTextTower(clip)
    if class_names is not None:
        if len(class_names) != num_classes:
            raise RftError(f"{len(class_names)} class names for {num_classes} classes")
        model.text.set_prompts(open_clip.get_tokenizer(arch), class_names, templates)
        home = model.mean.device
        model.to(head_device or home)
        model.set_zero_shot_head()
        model.to(home)
    if not keep_text:
        model.text = None
    return model.to(device) if device is not None and not meta else model


def open_clip_state_dict(model: ClipClassifier) -> dict[str, torch.Tensor]:
    """The image tower (and, where the model keeps it, the text tower and logit scale) under open_clip's own
    names (``visual.transformer.resblocks.0.attn.in_proj_weight``, ...), to save in open_clip's format:
    ``open_clip.load_checkpoint`` reads it back. Only where no strategy added modules (full, linear_probe,
    bitfit): LoRA, adapters and (IA)³ are not open_clip tensors."""
    strategy = getattr(model, "rft_strategy", None)
    if strategy is not None and strategy[0] not in ("full", "linear_probe", "bitfit"):
        raise RftError(f"a model with strategy {strategy[0]!r} holds modules open_clip does not have; "
                       f"open_clip_state_dict exports full, linear_probe and bitfit models")
    renamed = {".attn.in_proj.weight": ".attn.in_proj_weight", ".attn.in_proj.bias": ".attn.in_proj_bias"}
    state = {}
    for key, tensor in model.backbone.visual.state_dict().items():
        for ours, theirs in renamed.items():
            key = key.replace(ours, theirs)
        state[f"visual.{key}"] = tensor
    if model.text is not None:
        encoder = model.text.encoder
        prefix = "" if type(encoder).__name__ == "_TextPieces" else "text."  # CLIP keeps its text tower flat
        state.update((f"{prefix}{key}", tensor) for key, tensor in encoder.state_dict().items())
        state["logit_scale"] = model.text.logit_scale.detach()
    return state


def _register_configs() -> None:
    """Make rftlib's own open_clip configurations (``clip_configs/``) known to open_clip, once."""
    import open_clip
    from open_clip import factory

    if CONFIG_DIR not in factory._MODEL_CONFIG_PATHS:
        open_clip.add_model_config(CONFIG_DIR)


class _DropRandomInitWarning(logging.Filter):
    """open_clip logs "No pretrained weights loaded ... initialized randomly" as a warning on the root
    logger whenever it builds an architecture alone, which rftlib does before loading a file (and for
    counts): not news to the caller."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage() and "initialized partially" not in record.getMessage()


@contextmanager
def _quiet_open_clip():
    root, noise = logging.getLogger(), _DropRandomInitWarning()
    root.addFilter(noise)
    try:
        yield
    finally:
        root.removeFilter(noise)


@contextmanager
def _no_context():
    yield


__all__ = ["CLIP_KWARGS", "ClipClassifier", "ClipImageClassifier", "build_clip", "open_clip_state_dict"]
