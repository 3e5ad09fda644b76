"""Common corruptions of the fixed evaluation subset, computed once per run and cached on disk.

Hendrycks and Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019 (https://arxiv.org/abs/1903.12261): 15 corruptions (noise, blur, weather,
digital) at severities 1-5, through ``imagecorruptions`` (the maintained ``imagecorruptions-imaug``
fork; the original 1.1.2 breaks on current numpy and scikit-image), applied to uint8 images as the
benchmark's files are.

**Determinism.** Every image is corrupted with its own seed, derived from (run seed, corruption,
severity, position in the subset), so the result depends on nothing else (not on the order of the
corruptions, nor on which others are chosen). Most corruptions draw from numpy's global generator,
seeded per image here and restored afterwards. Two draw elsewhere, which is why seeding numpy alone
does not reproduce them: ``impulse_noise`` calls scikit-image's ``random_noise``, which makes a fresh
``np.random.default_rng()``; ``glass_blur`` shuffles pixels in a numba-compiled function with numba's
own generator, seeded from an unseeded ``default_rng``. The fork passes a ``seed`` argument through
to both (``rng=`` of ``random_noise``, ``np.random.seed`` inside the numba function); it is given
here, so all 15 are reproducible (tests/test_corruptions.py checks every one).

**Small images.** imagecorruptions refuses images under 32 px (its parameters, e.g. blur radii and
the frost crops, are set for CIFAR's 32 px and up), and so does this module, in one line.

**Cache.** ``<run_dir>/corruptions/<key>/``: one uint8 ``.npy`` per corruption and severity, the labels
and ``key.json``. The key hashes every input: the clean images and labels themselves (so the dataset,
split, evaluation subset, image size and seed are all covered), the names, the severities, the size,
the seed, the imagecorruptions version and this format's version. A change of any of them reads
another directory; a directory is only ever complete (written aside, then renamed).
Disk: 3 * S^2 bytes per image, corruption and severity (1,000 images at 224 px, 15 corruptions,
one severity: 2.3 GB; at 32 px: 46 MB); ``size`` bounds it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from rftlib.core.errors import unknown_choice
from rftlib.core.seeding import derived_seed
from rftlib.data.base import ImageDataset, TensorImageDataset
from rftlib.data.corruption_options import (COMMON_CORRUPTIONS, MIN_IMAGE_SIZE, CorruptionOptions,  # noqa: F401  re-exported
                                 check_image_size, corruption_options)
from rftlib.data.splits import eval_subset

#: Corruptions whose randomness the fork exposes as a ``seed`` argument (see the module docstring).
_OWN_GENERATOR = ("impulse_noise", "glass_blur")
FORMAT_VERSION = 1
#: Record keys: ``corruption_acc`` (the mean) and ``corruption_<name>_acc`` per corruption.
PREFIX = "corruption"
#: The cache's folder in a run directory.
CACHE_DIR = "corruptions"


def corrupt_images(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """``images`` (N, H, W, 3) uint8 corrupted by ``name`` at ``severity``: (N, H, W, 3) uint8.

    Image i gets seed derived_seed(seed, corruption, severity, i); numpy's global state is restored.
    """
    from imagecorruptions import corrupt

    if name not in COMMON_CORRUPTIONS:
        raise unknown_choice("corruption", name, COMMON_CORRUPTIONS)
    check_image_size(min(images.shape[1:3]))
    number = COMMON_CORRUPTIONS.index(name)
    out = np.empty_like(images)
    state = np.random.get_state()
    try:
        for i, image in enumerate(images):
            image_seed = derived_seed(seed, number, severity, i) % 2**32
            np.random.seed(image_seed)
            kwargs = {"seed": image_seed} if name in _OWN_GENERATOR else {}
            out[i] = corrupt(image, severity=severity, corruption_name=name, **kwargs)
    finally:
        np.random.set_state(state)
    return out


def corrupted_sets(evaluation: ImageDataset, options: CorruptionOptions | dict | None, *, seed: int,
                   cache_dir: str | Path, progress: bool = True) -> dict[str, TensorImageDataset]:
    """The corrupted copies of ``evaluation`` (the run's fixed evaluation subset), one dataset per
    corruption holding its severities one after the other, named ``corruption_<name>``; read from
    ``cache_dir`` when there, computed and written there otherwise."""
    if not isinstance(options, CorruptionOptions):
        options = corruption_options(options)
    clean, labels = _as_uint8(eval_subset(evaluation, options.size, seed))
    check_image_size(min(clean.shape[-2:]))
    key = cache_key(clean, labels, options, seed)
    directory = Path(cache_dir) / key
    if not (directory / "key.json").exists():
        _compute(directory, clean, labels, options, seed, progress)
    # uint8 datasets: a quarter of the memory of float ones, converted per batch.
    return {f"{PREFIX}_{name}": TensorImageDataset(
        torch.from_numpy(np.concatenate([np.load(directory / f"{name}_s{s}.npy") for s in options.severities])),
        np.tile(labels, len(options.severities)), clean.shape[-1])
        for name in options.chosen}


def corruption_accuracy(extra_acc: dict[str, float]) -> float | None:
    """``corruption_acc``: the mean accuracy over the ``corruption_<name>`` sets of an evaluation's
    extra-set accuracies (None when there are none)."""
    values = [acc for name, acc in extra_acc.items() if name.startswith(PREFIX + "_")]
    return float(np.mean(values)) if values else None


def severity_accuracies(outcomes: dict[str, np.ndarray], options: CorruptionOptions | dict | None) -> dict[str, float]:
    """Severity curves from an evaluation's per-sample outcomes: ``corruption_<name>_s<k>_acc`` per
    corruption and severity k, and ``corruption_s<k>_acc``, the mean over the corruptions at k. Each
    corruption's set holds its severities one after the other (:func:`corrupted_sets`), so the flags
    split into equal blocks. Empty with a single severity (``corruption_<name>_acc`` is that already)."""
    if not isinstance(options, CorruptionOptions):
        options = corruption_options(options)
    if len(options.severities) < 2:
        return {}
    columns: dict[str, float] = {}
    for name in options.chosen:
        blocks = np.split(np.asarray(outcomes[f"{PREFIX}_{name}"], dtype=float), len(options.severities))
        for severity, block in zip(options.severities, blocks):
            columns[f"{PREFIX}_{name}_s{severity}_acc"] = float(block.mean())
    for severity in options.severities:
        columns[f"{PREFIX}_s{severity}_acc"] = float(np.mean(
            [columns[f"{PREFIX}_{name}_s{severity}_acc"] for name in options.chosen]))
    return columns


def cache_key(clean: np.ndarray, labels: np.ndarray, options: CorruptionOptions, seed: int) -> str:
    """A digest of everything the corrupted images depend on (see the module docstring)."""
    content = hashlib.sha256(np.ascontiguousarray(clean).tobytes())
    content.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    settings = {"format": FORMAT_VERSION, "imagecorruptions": metadata.version("imagecorruptions-imaug"),
                "names": sorted(options.chosen), "severities": sorted(options.severities), "size": options.size,
                "seed": seed, "shape": list(clean.shape), "content": content.hexdigest()}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _as_uint8(dataset, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, S, S) uint8 images and int64 labels of a dataset of float images in [0, 1], read a chunk
    at a time (1,000 float images at 224 px would be 600 MB at once)."""
    images, labels = [], []
    for start in range(0, len(dataset), chunk):
        indices = list(range(start, min(start + chunk, len(dataset))))
        # One batched read where the dataset offers it (a Hugging Face dataset: one Arrow read, one resize).
        items = dataset.__getitems__(indices) if hasattr(dataset, "__getitems__") else [dataset[i] for i in indices]
        batch = torch.stack([image for image, _ in items])
        images.append(batch.mul(255).round_().clamp_(0, 255).to(torch.uint8).numpy())
        labels += [label for _, label in items]
    return np.concatenate(images), np.array(labels, dtype=np.int64)


def _compute(directory: Path, clean: np.ndarray, labels: np.ndarray, options: CorruptionOptions, seed: int,
             progress: bool) -> None:
    from rftlib.core.progress import progress_bar

    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    nhwc = clean.transpose(0, 2, 3, 1)
    jobs = [(name, severity) for name in options.chosen for severity in options.severities]
    with progress_bar(total=len(jobs), desc=f"corrupting {len(clean)} images", unit="set", disable=not progress) as bar:
        for name, severity in jobs:
            corrupted = corrupt_images(nhwc, name, severity, seed).transpose(0, 3, 1, 2)
            np.save(partial / f"{name}_s{severity}.npy", np.ascontiguousarray(corrupted))
            bar.update(1)
    (partial / "key.json").write_text(json.dumps({"names": options.chosen, "severities": options.severities,
                                                  "size": options.size, "seed": seed, "images": len(clean)}))
    if directory.exists():  # an incomplete directory from an older layout: replace it
        shutil.rmtree(directory)
    os.replace(partial, directory)


__all__ = ["CACHE_DIR", "COMMON_CORRUPTIONS", "CorruptionOptions", "cache_key", "check_image_size",
           "corrupt_images", "corrupted_sets", "corruption_accuracy", "corruption_options", "severity_accuracies"]
