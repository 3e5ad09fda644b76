"""Features of the frozen pretrained backbone: the input its new classification head sees.

For a timm model that is ``forward_head(forward_features(x), pre_logits=True)``: the CLS token of a ViT
after its final norm (or whatever pooled representation another timm model hands its head). They are
computed under ``torch.no_grad`` in eval mode, and the model's mode is restored afterwards: measuring
a task leaves the backbone unchanged. When the backbone kept its upstream classification head, its
softmax on the same images comes along for LEEP.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rftlib.core.errors import RftError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Features:
    """Backbone features (n, d), their labels (n; -1 where unlabelled) and, when the backbone has an
    upstream head, its softmax (n, z); None otherwise."""

    features: np.ndarray
    labels: np.ndarray
    upstream_probabilities: np.ndarray | None = None


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode under ``torch.no_grad``; its previous mode is restored on exit."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def seeded_subset(dataset, size: int, seed: int, what: str):
    """``size`` examples of ``dataset``, drawn by ``seed`` and stratified by class where the dataset has
    labels (each class in proportion to its share, so a small subset still holds every class), as a
    subset with sorted indices; an RftError when the dataset holds fewer."""
    if len(dataset) < size:
        raise RftError(f"{what} has {len(dataset)} examples, fewer than the subset of {size} asked for; "
                       f"use a size of at most {len(dataset)}")
    order = np.random.default_rng(seed).permutation(len(dataset))
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        # Each example's rank within its class (in the seeded order), as a fraction of the class's size:
        # taking the smallest fractions first fills every class in proportion.
        codes = np.unique(np.asarray(labels)[order], return_inverse=True)[1]
        counts = np.bincount(codes)
        rank = np.empty(len(order))
        seen = np.zeros(len(counts), dtype=np.int64)
        for position, code in enumerate(codes):
            rank[position] = (seen[code] + 0.5) / counts[code]
            seen[code] += 1
        order = order[np.argsort(rank, kind="stable")]
    return dataset.subset(np.sort(order[:size]))


def extract_features(model: nn.Module, dataset, batch_size: int = 256, upstream_head: bool = False) -> Features:
    """The head's input for every example of ``dataset`` (``(image, label)`` pairs in [0, 1]) under
    ``model``, an ``rftlib.models.PixelSpaceClassifier``; with ``upstream_head`` also the softmax of the
    backbone's own head (which must then be the upstream classifier, not a new head)."""
    backbone = model.backbone
    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    features, labels, probabilities = [], [], []
    with frozen(model):
        for images, batch_labels in loader:
            tokens = backbone.forward_features((images.to(device) - model.mean) / model.std)
            features.append(backbone.forward_head(tokens, pre_logits=True).float().cpu())
            if upstream_head:
                probabilities.append(backbone.forward_head(tokens).float().softmax(dim=1).cpu())
            labels.append(torch.as_tensor(batch_labels))
    return Features(features=torch.cat(features).numpy().astype(np.float64),
                    labels=torch.cat(labels).numpy().astype(np.int64),
                    upstream_probabilities=torch.cat(probabilities).numpy().astype(np.float64) if upstream_head else None)


class ImageFiles(torch.utils.data.Dataset):
    """Unlabelled image files (label -1) as ``(image, label)`` pairs of ``image_size`` px in [0, 1]:
    an upstream sample such as an ImageNet folder."""

    def __init__(self, files: list[Path], image_size: int):
        self.files, self.image_size = list(files), image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        from rftlib.data.images import pil_to_tensor

        try:
            with Image.open(self.files[index]) as image:
                return pil_to_tensor(image, self.image_size), -1
        except OSError as error:
            raise RftError(f"cannot read upstream image {str(self.files[index])!r}: {error}") from None

    def subset(self, indices) -> "ImageFiles":
        return ImageFiles([self.files[int(i)] for i in indices], self.image_size)


def image_files(folder: str | Path) -> list[Path]:
    """The image files under ``folder`` (any depth, sorted); RftError when there is no such folder or
    it holds fewer than two images."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise RftError(f"upstream sample folder not found: {str(folder)!r} (a folder of images, e.g. ImageNet's)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(files) < 2:
        raise RftError(f"upstream sample folder {str(folder)!r} holds {len(files)} image files "
                       f"({', '.join(IMAGE_SUFFIXES)}); a covariance needs at least 2")
    return files
