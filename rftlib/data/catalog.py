"""The dataset registry. Each entry is a builder called as
``builder(name=..., image_size=..., seed=..., val_fraction=..., domain=..., path=..., cache_dir=...,
options={...})`` that returns a :class:`~rftlib.data.task.Task`."""
from __future__ import annotations

from rftlib.core.registry import Registry

DATASETS: Registry = Registry("dataset")
