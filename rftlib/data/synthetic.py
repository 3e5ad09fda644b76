"""A synthetic image task with a dial for difficulty and optional style-shifted domains.

Class content: each class has a smooth random prototype (a random 8x8 field per channel,
upsampled), and every image is ``a * prototype[label] + nuisance``, where the nuisance is an
equally smooth random field plus a little pixel noise. ``separability`` sets ``a`` so that two
class means sit ``2 * separability`` nuisance standard deviations apart: a nearest-class-mean rule
confuses a pair of classes with probability about Phi(-separability). Higher is easier.

Domains (``domains=N``, names d0 ... d{N-1}): the same class content seen through a per-domain
style: a rotation of colour space, a contrast and brightness change and an additive stripe
texture, all scaled by ``shift`` (0: no shift; 1: colours rotated by 90 degrees, strong textures).
Domain d0 has no style, so it equals the task without domains. A style is an invertible
transformation plus a label-independent texture, so labels mean the same in every domain while
pixel statistics shift: a real distribution shift for OOD evaluation.

Everything is generated in memory with numpy/torch at ``native_size`` pixels, deterministic by
``data_seed`` (by default the task's seed), and resized to ``image_size`` on access.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from rftlib.data.base import TensorImageDataset
from rftlib.data.catalog import DATASETS
from rftlib.data.memory_options import (SyntheticOptions, check_options, check_synthetic,  # noqa: F401  re-exported; torch-free
                     domain_names)
from rftlib.data.task import Task, make_task

GRID = 8  # side of the coarse random field that carries class content and nuisance
PIXEL_NOISE = 0.25  # std of the per-pixel noise added after upsampling
GAIN = 1.5  # slope of the sigmoid that maps the field into (0, 1)
_TRAIN, _TEST = 1, 2  # stream codes for the random generators


@DATASETS.register("synthetic")
def load_synthetic_task(*, name: str, image_size: int, seed: int, val_fraction: float,
                        domain: str | None, path, cache_dir, options: dict) -> Task:
    """The synthetic task (see the module docstring)."""
    opts = check_synthetic(name=name, domain=domain, path=path, options=options)
    return generated_task(name, opts, generate, image_size=image_size, seed=seed, val_fraction=val_fraction,
                          domain=domain, path=path)


load_synthetic_task.check = check_synthetic


def generated_task(name: str, opts: SyntheticOptions, generator, *, image_size: int, seed: int,
                   val_fraction: float, domain: str | None, path) -> Task:
    """The Task of a generated dataset, with or without domains: ``generator(opts, data_seed, split,
    domain_index, n)`` returns one split of one domain as (images, labels)."""
    data_seed = seed if opts.data_seed is None else opts.data_seed
    class_names = [f"c{k}" for k in range(opts.num_classes)]

    names = domain_names(name, opts, path, domain)
    if names is None:
        train = generator(opts, data_seed, _TRAIN, 0, opts.train_size)
        test = generator(opts, data_seed, _TEST, 0, opts.test_size)
        return make_task(name, class_names, TensorImageDataset(*train, image_size),
                         TensorImageDataset(*test, image_size), seed=seed, val_fraction=val_fraction)

    index = names.index(domain)
    train = generator(opts, data_seed, _TRAIN, index, opts.train_size)
    test = generator(opts, data_seed, _TEST, index, opts.test_size)
    # Only the other domains' test splits are generated: their training data is never used.
    others = [generator(opts, data_seed, _TEST, j, opts.test_size) for j in range(opts.domains) if j != index]
    ood_images = torch.cat([images for images, _ in others])
    ood_labels = np.concatenate([labels for _, labels in others])
    return make_task(name, class_names, TensorImageDataset(*train, image_size),
                     TensorImageDataset(*test, image_size), seed=seed, val_fraction=val_fraction,
                     ood=TensorImageDataset(ood_images, ood_labels, image_size),
                     domain=domain, domains=names)


def prototypes(opts: SyntheticOptions, data_seed: int) -> np.ndarray:
    """One coarse random field per class, (K, 3, g, g): the class content shared by every domain."""
    g = min(GRID, opts.native_size)
    return np.random.default_rng([data_seed, 0]).standard_normal((opts.num_classes, 3, g, g))


def generate(opts: SyntheticOptions, data_seed: int, split: int, domain: int, n: int):
    """``n`` images (float32 (n, 3, s, s) in (0, 1)) and balanced labels of one split of one domain.

    Each (split, domain) has its own random stream, so generating one never shifts another.
    """
    rng = np.random.default_rng([data_seed, 1, split, domain])
    labels = rng.permutation(np.arange(n) % opts.num_classes)
    protos = prototypes(opts, data_seed)
    field = class_fields(opts, protos, labels, rng, pattern_amplitude(opts, protos), 1.0, PIXEL_NOISE)
    field = apply_style(field, data_seed, domain, opts.shift)
    return torch.sigmoid(GAIN * field), labels.astype(np.int64)


def pattern_amplitude(opts: SyntheticOptions, protos: np.ndarray) -> float:
    """The prototypes' scale that puts two class means ``2 * separability`` unit nuisance stds apart."""
    return opts.separability * math.sqrt(2.0 / protos[0].size)


def class_fields(opts: SyntheticOptions, protos: np.ndarray, classes: np.ndarray, rng: np.random.Generator,
                 amplitude: float, nuisance: float, pixel_noise: float) -> torch.Tensor:
    """Fields (n, 3, s, s) before the sigmoid: each ``amplitude`` times the prototype of its class,
    plus a smooth nuisance field of std ``nuisance`` and ``pixel_noise`` per pixel, drawn from ``rng``."""
    g = protos.shape[-1]
    coarse = amplitude * protos[classes] + nuisance * rng.standard_normal((len(classes), 3, g, g))
    size = opts.native_size
    field = F.interpolate(torch.from_numpy(coarse).float(), size=(size, size), mode="bilinear", align_corners=False)
    if pixel_noise:
        field = field + pixel_noise * torch.from_numpy(rng.standard_normal(field.shape)).float()
    return field


def apply_style(field: torch.Tensor, data_seed: int, domain: int, shift: float) -> torch.Tensor:
    """Domain ``domain``'s style, of strength ``shift``, on fields (n, 3, s, s); domain 0 has none."""
    if domain == 0 or shift == 0:
        return field
    rng = np.random.default_rng([data_seed, 2, domain])
    # Colour mixing: a rotation of colour space about a random axis by shift * 90 degrees.
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = shift * (math.pi / 2) * rng.choice([-1.0, 1.0])
    mixing = np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * (cross @ cross)
    contrast = math.exp(shift * rng.normal(0.0, 0.4))
    brightness = shift * rng.normal(0.0, 0.5, size=3)
    # A stripe texture of random orientation and period, the same on every image of the domain.
    orientation, period = rng.uniform(0, math.pi), rng.uniform(2.5, 5.0)
    amplitude, phases = shift * rng.uniform(0.5, 1.0), rng.uniform(0, 2 * math.pi, size=3)
    size = field.shape[-1]
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    wave = (xx * math.cos(orientation) + yy * math.sin(orientation)) * (2 * math.pi / period)
    texture = amplitude * np.sin(wave[None] + phases[:, None, None]) + brightness[:, None, None]
    mixed = torch.einsum("cd,ndhw->nchw", torch.from_numpy(mixing).float(), field)
    return contrast * mixed + torch.from_numpy(texture).float()
