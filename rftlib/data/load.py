"""``load_task``: the one entry point from a dataset name to a :class:`Task`."""
from __future__ import annotations

import os

from rftlib.core.errors import RftError
from rftlib.core.options import coerce
from rftlib.data.catalog import DATASETS
from rftlib.data.checks import DATASET_CHECKS
from rftlib.data.task import Task

# Importing the loaders fills DATASETS, in the order DATASET_CHECKS lists the names: hub datasets, then
# the in-memory ones.
from rftlib.data import hub, digits, synthetic, feature_model  # noqa: E402,F401  isort: skip

assert DATASETS.names() == DATASET_CHECKS.names(), "rftlib.data: loaders and checks registered apart"


def load_task(name: str, *, image_size: int = 224, seed: int = 0, val_fraction: float = 0.1,
              domain: str | None = None, path: str | os.PathLike | None = None,
              cache_dir: str | os.PathLike | None = None, **options) -> Task:
    """Load dataset ``name`` as a Task of ``image_size`` px images.

    ``val_fraction`` of the training split is held out for validation, chosen by ``seed``.
    ``domain`` picks the training domain of a dataset with domains (DomainNet, synthetic with
    ``domains=N``); the other domains' test splits become ``task.ood``. Hub datasets load from
    ``path`` (a ``save_to_disk`` folder or a copy of the hub repository) when given, otherwise from
    the hub or its cache in ``cache_dir``. ``options`` are the dataset's own (see its options class).
    """
    builder = DATASETS.get(name)
    image_size = coerce(image_size, int, "image_size")
    if image_size < 1:
        raise RftError(f"image_size must be a positive number of pixels, got {image_size}")
    seed = coerce(seed, int, "seed")
    val_fraction = coerce(val_fraction, float, "val_fraction")
    if not 0.0 <= val_fraction < 1.0:
        raise RftError(f"val_fraction must be in [0, 1), got {val_fraction}")
    domain = coerce(domain, str | None, "domain")
    for what, value in (("path", path), ("cache_dir", cache_dir)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise RftError(f"{what} must be a folder path, got {value!r}")
    return builder(name=name, image_size=image_size, seed=seed, val_fraction=val_fraction,
                   domain=domain, path=path, cache_dir=cache_dir, options=options)
