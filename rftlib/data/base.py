"""Torch map-style datasets yielding ``(image, label)``: float32 (3, S, S) in [0, 1] and an int.

Two kinds: one over a Hugging Face dataset (decoded and resized lazily, per item or per batch) and
one over an in-memory tensor of small images (resized lazily too, so 224 px copies of thousands of
images never sit in memory).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rftlib.data.images import pil_to_tensor, resize_batch


class ImageDataset(torch.utils.data.Dataset):
    """Common interface: ``len``, ``ds[i] -> (image, label)``, ``labels`` and ``subset(indices)``.

    ``__getitems__`` lets a torch DataLoader fetch a whole batch in one call (one Arrow read, one
    resize), which is much faster than item by item.
    """

    image_size: int

    @property
    def labels(self) -> np.ndarray:
        """Every example's label (int64), read without decoding any image."""
        raise NotImplementedError

    def subset(self, indices: Sequence[int] | np.ndarray) -> "ImageDataset":
        """The examples at ``indices``, as a dataset of the same kind."""
        raise NotImplementedError

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        return [self[i] for i in indices]


class HubTransform:
    """The lazy transform set on a Hugging Face dataset: a batch of rows -> images and int labels.

    A class rather than a closure so that DataLoader workers can pickle it.
    """

    def __init__(self, image_column: str, label_column: str, image_size: int, label_map: dict | None):
        self.image_column = image_column
        self.label_column = label_column
        self.image_size = image_size
        self.label_map = label_map  # str label -> index, for label columns stored as strings

    def __call__(self, batch: dict) -> dict:
        labels = batch[self.label_column]
        if self.label_map is not None:
            labels = [self.label_map[v] for v in labels]
        return {
            "image": [pil_to_tensor(img, self.image_size) for img in batch[self.image_column]],
            "label": [int(v) for v in labels],
        }


class HubImageDataset(ImageDataset):
    """A Hugging Face ``datasets.Dataset`` seen as ``(image, label)`` pairs, converted on access."""

    def __init__(self, hf, image_column: str, label_column: str, image_size: int, label_map: dict | None = None):
        self.hf = hf  # the raw rows, without a transform
        self.image_column = image_column
        self.label_column = label_column
        self.image_size = image_size
        self.label_map = label_map
        transform = HubTransform(image_column, label_column, image_size, label_map)
        self._view = hf.with_transform(transform, columns=[image_column, label_column])
        self._labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.hf)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= int(index) < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        row = self._view[int(index)]
        return row["image"], row["label"]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        rows = self._view[[int(i) for i in indices]]
        return list(zip(rows["image"], rows["label"]))

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            values = column_values(self.hf, self.label_column)
            if self.label_map is not None:
                values = np.array([self.label_map[v] for v in values])
            self._labels = np.asarray(values, dtype=np.int64)
        return self._labels

    def subset(self, indices) -> "HubImageDataset":
        # keep_in_memory: the index mapping stays in RAM instead of being written next to the
        # source files (which may be read-only, and are shared between runs).
        rows = self.hf.select(np.asarray(indices, dtype=np.int64), keep_in_memory=True)
        return HubImageDataset(rows, self.image_column, self.label_column, self.image_size, self.label_map)

    def __repr__(self) -> str:
        return f"HubImageDataset({len(self)} examples, {self.image_size}px)"


class TensorImageDataset(ImageDataset):
    """Small images held in memory as float (N, 3, h, w) in [0, 1], resized to ``image_size`` on access.

    uint8 images (0-255) are kept as uint8, a quarter of the memory, and converted per access (the
    corrupted evaluation sets of rftlib.data.corruptions)."""

    def __init__(self, images: torch.Tensor, labels, image_size: int):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, h, w), got {tuple(images.shape)}")
        self.images = images if images.dtype == torch.uint8 else images.float()
        self._labels = np.asarray(labels, dtype=np.int64)
        if len(self._labels) != len(self.images):
            raise ValueError("one label per image is needed")
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = int(index)
        image = resize_batch(_unit_float(self.images[index].unsqueeze(0)), self.image_size)[0]
        return image, int(self._labels[index])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        idx = torch.as_tensor([int(i) for i in indices], dtype=torch.long)
        images = resize_batch(_unit_float(self.images[idx]), self.image_size)
        return [(img, int(self._labels[i])) for img, i in zip(images, idx.tolist())]

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    def subset(self, indices) -> "TensorImageDataset":
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return TensorImageDataset(self.images[idx], self._labels[idx.numpy()], self.image_size)

    def __repr__(self) -> str:
        h, w = self.images.shape[-2:]
        return f"TensorImageDataset({len(self)} examples, {h}x{w} -> {self.image_size}px)"


def _unit_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


def column_values(hf, column: str) -> np.ndarray:
    """One column of a Hugging Face dataset as a numpy array, without decoding the other columns."""
    return np.asarray(hf.select_columns([column]).with_format("numpy")[:][column])
