"""Datasets for rftlib: the paper's hub datasets, scikit-learn's digits, a synthetic generator
and the paper's feature model as images (a known-answer task).

``load_task(name, ...)`` returns a :class:`Task` whose ``train``/``val``/``test`` (and, for tasks
with domains, ``ood``) datasets yield ``(image, label)``: float32 (3, S, S) in [0, 1] and an int,
preprocessed as in the paper (RGB, resized straight to S x S, bilinear, no crop, no augmentation).

The names below load on first use (they import torch); each dataset's options and their checks are in
:mod:`rftlib.data.checks`, which a configuration is checked with before torch loads. The class names and
CLIP prompt templates of zero-shot heads (open_clip models) are in :mod:`rftlib.data.prompts` (no torch).

May use: core.
"""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports

_EXPORTS = {
    "DATASETS": "load", "load_task": "load",  # load.py imports every loader, filling DATASETS
    "HubImageDataset": "base", "ImageDataset": "base", "TensorImageDataset": "base",
    "DOMAINNET_DOMAINS": "hub", "HUB_SPECS": "hub", "HubOptions": "hub", "HubSpec": "hub",
    "eval_subset": "splits", "holdout_split": "splits", "Task": "task",
    "DigitsOptions": "memory_options", "SyntheticOptions": "memory_options", "FeatureModelOptions": "memory_options",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
