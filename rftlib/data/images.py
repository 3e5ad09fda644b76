"""The paper's preprocessing: RGB, resized straight to a square, bilinear, no crop, no augmentation,
float32 CHW in [0, 1]. Normalisation (mean = std = 0.5) happens inside the model, so attacks work in
pixel space."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def pil_to_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """A PIL image of any mode and size -> float32 tensor (3, size, size) in [0, 1]."""
    image = image.convert("RGB")
    if image.size != (size, size):
        # PIL's bilinear filter, as the ViT image processor of the released code uses.
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    array = np.array(image, dtype=np.uint8)  # a writable copy: torch warns on read-only arrays
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """Float images (N, C, h, w) in [0, 1] -> (N, C, size, size), bilinear with antialiasing (as PIL)."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)
