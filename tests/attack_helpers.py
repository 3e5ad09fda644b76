"""A tiny ViT trained on scikit-learn's digits, for attacks that need a real decision boundary.

Robust accuracies on an untrained model say little (every direction flips it); the reference
comparisons of APGD and AutoAttack use this model instead: 2 blocks of width 48 on 16-px digits,
150 AdamW steps, about 70% clean accuracy on the held-out images. A few seconds on one core.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rftlib.models import build_model


def digits(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1).expand(-1, 3, -1, -1)
    images = F.interpolate(images, size=size, mode="bilinear", align_corners=False).clamp(0, 1).contiguous()
    return images, torch.from_numpy(bunch.target).long()


def trained_digits_vit(steps: int = 200, seed: int = 0, test_size: int = 256):
    """(model in eval mode, test images, test labels); the first 1400 images train it."""
    torch.manual_seed(seed)
    model = build_model("vit_tiny_patch16_224", 10, pretrained=False, img_size=16, patch_size=4, depth=2,
                        embed_dim=32, num_heads=2)
    images, labels = digits()
    train_x, train_y = images[:1400], labels[:1400]
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(train_x), (32,), generator=generator)
        loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.zero_grad(set_to_none=True)
    return model.eval(), images[1400:1400 + test_size], labels[1400:1400 + test_size]
