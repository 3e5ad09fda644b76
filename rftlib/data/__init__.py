"""Datasets for rftlib: the paper's hub datasets, scikit-learn's digits, a synthetic generator
and the paper's feature model as images (a known-answer task).

``load_task(name, ...)`` returns a :class:`Task` whose ``train``/``val``/``test`` (and, for tasks
with domains, ``ood``) datasets yield ``(image, label)``: float32 (3, S, S) in [0, 1] and an int,
preprocessed as in the paper (RGB, resized straight to S x S, bilinear, no crop, no augmentation).
"""
from __future__ import annotations

from .base import HubImageDataset, ImageDataset, TensorImageDataset
from .catalog import DATASETS
from .hub import DOMAINNET_DOMAINS, HUB_SPECS, HubOptions, HubSpec
from .load import load_task
from .splits import eval_subset, holdout_split
from .task import Task

# Registration order is the order `DATASETS.names()` lists: hub datasets, then the in-memory ones.
from .digits import DigitsOptions  # noqa: E402
from .synthetic import SyntheticOptions  # noqa: E402
from .feature_model import FeatureModelOptions  # noqa: E402

__all__ = [
    "DATASETS", "DOMAINNET_DOMAINS", "HUB_SPECS", "DigitsOptions", "FeatureModelOptions", "HubImageDataset", "HubOptions", "HubSpec",
    "ImageDataset", "SyntheticOptions", "TensorImageDataset", "Task", "eval_subset", "holdout_split", "load_task",
]
