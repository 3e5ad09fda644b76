"""scikit-learn's bundled handwritten digits: a real, tiny, offline task for tests and demos.

1797 greyscale 8x8 images of the digits 0-9 (values 0-16), scaled to [0, 1], copied to three
channels and resized to ``image_size`` on access. The source has no test split, so a stratified
one is drawn with ``data_seed`` (by default the task's seed); the validation split is then held out
of the rest as for every dataset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import RftError
from ..options import build_dataclass
from .base import TensorImageDataset
from .catalog import DATASETS
from .task import Task, make_task


@dataclass(frozen=True)
class DigitsOptions:
    """test_fraction: share of the 1797 images in the test split; data_seed: seed of that split
    (None: the task's seed)."""

    test_fraction: float = 0.2
    data_seed: int | None = None


@DATASETS.register("digits")
def load_digits_task(*, name: str, image_size: int, seed: int, val_fraction: float,
                     domain: str | None, path, cache_dir, options: dict) -> Task:
    """The digits task (see the module docstring)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    opts = check_digits(name=name, domain=domain, path=path, options=options)
    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)  # 0..16 -> [0, 1]
    images = images.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=opts.test_fraction, stratify=labels,
        random_state=seed if opts.data_seed is None else opts.data_seed,
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    full = TensorImageDataset(images, labels, image_size)
    class_names = [str(d) for d in range(10)]
    return make_task(name, class_names, full.subset(train_idx), full.subset(test_idx),
                     seed=seed, val_fraction=val_fraction)


def check_digits(*, name: str, domain: str | None, path, options: dict, **_) -> DigitsOptions:
    """The options, path and domain, checked before anything loads."""
    opts = build_dataclass(DigitsOptions, options, f"{name} option")
    if not 0.0 < opts.test_fraction < 1.0:
        raise RftError(f"{name} option 'test_fraction' must be in (0, 1), got {opts.test_fraction!r}")
    if opts.data_seed is not None and opts.data_seed < 0:
        raise RftError(f"{name} option 'data_seed' must be None or an integer >= 0, got {opts.data_seed}")
    reject_path_and_domain(name, path, domain)
    return opts


load_digits_task.check = check_digits


def reject_path_and_domain(name: str, path, domain) -> None:
    """In-memory datasets take neither ``path`` nor (without domains) ``domain``."""
    if path is not None:
        raise RftError(f"{name} is built in memory and takes no path=; path= applies to the hub datasets")
    if domain is not None:
        raise RftError(f"{name} has no domains; domain= applies to: domainnet, synthetic (with domains=N)")
