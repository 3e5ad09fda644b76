"""Where the strategies act in a timm Vision Transformer, and the checks that the model has those parts.

All strategies except full and linear_probe act inside the transformer blocks
(``backbone.blocks[i]``), on the linears named here relative to a block. ``q``, ``k`` and ``v`` exist
only once the fused ``attn.qkv`` has been split (see :mod:`rftlib.strategies._qkv`).
"""
from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from ..errors import RftError, closest

# target name -> path of the linear inside one block
BLOCK_LINEARS = {
    "q": "attn.qkv.q",
    "k": "attn.qkv.k",
    "v": "attn.qkv.v",
    "proj": "attn.proj",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
}


def backbone_of(model: nn.Module) -> nn.Module:
    """The timm model inside ``model`` (a PixelSpaceClassifier) or ``model`` itself (a bare timm model)."""
    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "get_classifier"):
        raise RftError(
            f"expected a model from rftlib.build_model or a timm model, got {type(model).__name__}"
        )
    return backbone


def vit_blocks(backbone: nn.Module, strategy: str) -> list[nn.Module]:
    """The transformer blocks of ``backbone``; RftError when it is not a timm ViT-style model."""
    blocks = list(getattr(backbone, "blocks", None) or [])

    def is_vit_block(block: nn.Module) -> bool:
        attn, mlp = getattr(block, "attn", None), getattr(block, "mlp", None)
        return all(
            isinstance(getattr(parent, child, None), nn.Module)
            for parent, child in ((attn, "qkv"), (attn, "proj"), (mlp, "fc1"), (mlp, "fc2"))
        )

    if not blocks or not all(is_vit_block(b) for b in blocks):
        raise RftError(
            f"strategy {strategy!r} needs a timm ViT (blocks[i].attn.qkv/.proj, blocks[i].mlp.fc1/.fc2); "
            f"{type(backbone).__name__} has none; use full, linear_probe or bitfit"
        )
    return blocks


def check_targets(targets: Iterable[str], strategy: str) -> tuple[str, ...]:
    """Validate target names (q, k, v, proj, fc1, fc2): non-empty, known, no repeats."""
    targets = tuple(targets)
    if not targets:
        raise RftError(f"{strategy} option 'targets' is empty; choose from {', '.join(BLOCK_LINEARS)}")
    for target in targets:
        if target not in BLOCK_LINEARS:
            hint = closest(target, BLOCK_LINEARS)
            did_you_mean = f" (did you mean {hint!r}?)" if hint else ""
            raise RftError(f"unknown {strategy} target {target!r}{did_you_mean}; valid: {', '.join(BLOCK_LINEARS)}")
    if len(set(targets)) != len(targets):
        raise RftError(f"{strategy} option 'targets' repeats a name: {', '.join(targets)}")
    return targets


def targets_regex(targets: Iterable[str]) -> str:
    """A regular expression peft fully matches against module names of the backbone, e.g.
    ``blocks\\.\\d+\\.(attn\\.qkv\\.k|mlp\\.fc1)``: only these linears, in every block, nothing else."""
    paths = "|".join(BLOCK_LINEARS[t].replace(".", r"\.") for t in targets)
    return rf"blocks\.\d+\.({paths})"


def needs_qkv_split(targets: Iterable[str]) -> bool:
    return any(t in ("q", "k", "v") for t in targets)
