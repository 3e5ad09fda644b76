"""The wrapper every rftlib model is in: pixels in [0, 1] in, logits out, the normalisation inside.

``rftlib.models.build`` puts a timm model in it, ``rftlib.models.clip`` an open_clip image tower with its
head; attacks perturb and clip the [0, 1] image, as the paper's PGD does.
"""
from __future__ import annotations

import torch
from torch import nn


class PixelSpaceClassifier(nn.Module):
    """A timm classifier that takes images in [0, 1] and normalises them itself.

    ``forward(x)`` returns ``backbone((x - mean) / std)``: attacks, clipping and the eps ball all live
    in pixel space, and the normalisation of the pretrained weights cannot be forgotten by a caller.

    Attributes:
        backbone: the timm model (with its new head), exactly as ``timm.create_model`` built it.
        mean, std: buffers of shape (1, C, 1, 1) from the backbone's ``pretrained_cfg``
            (0.5, 0.5, 0.5 for the paper's ``orig_in21k`` weights).
    """

    def __init__(self, backbone: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.backbone = backbone
        device = next(iter(backbone.parameters()), torch.empty(0)).device
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.mean) / self.std)

    @property
    def image_size(self) -> int | tuple[int, int]:
        """The input side in pixels (an int for square inputs, as every ViT here; (H, W) otherwise)."""
        patch_embed = getattr(self.backbone, "patch_embed", None)
        size = getattr(patch_embed, "img_size", None)
        if size is None:  # not a ViT: fall back on the input size the weights were trained at
            size = self.backbone.pretrained_cfg["input_size"][-2:]
        if isinstance(size, int):
            return size
        height, width = (int(s) for s in size)
        return height if height == width else (height, width)

    @property
    def num_classes(self) -> int:
        """Number of outputs of the classification head."""
        return int(self.backbone.num_classes)


__all__ = ["PixelSpaceClassifier"]
