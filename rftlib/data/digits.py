"""scikit-learn's bundled handwritten digits: a real, tiny, offline task for tests and demos.

1797 greyscale 8x8 images of the digits 0-9 (values 0-16), scaled to [0, 1], copied to three
channels and resized to ``image_size`` on access. The source has no test split, so a stratified
one is drawn with ``data_seed`` (by default the task's seed); the validation split is then held out
of the rest as for every dataset.
"""
from __future__ import annotations

import numpy as np
import torch

from rftlib.data.base import TensorImageDataset
from rftlib.data.catalog import DATASETS
from rftlib.data.memory_options import DigitsOptions, check_digits, reject_path_and_domain  # noqa: F401  re-exported; torch-free
from rftlib.data.task import Task, make_task


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


load_digits_task.check = check_digits
