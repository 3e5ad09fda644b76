"""The paper's feature model as images: a task whose answer is known, to calibrate the study.

``rftlib.analysis.theory`` states the model (Tsipras et al. 2019; Ilyas et al. 2019): one *robust* feature
that agrees with the label with probability p, and d *non-robust* features x_i ~ N(eta * y, 1) that
an L-infinity perturbation larger than eta reverses. Here every image carries both, at pixel scale:

- **Robust features**: each class has a smooth pattern (the ``synthetic`` task's class prototypes,
  at unit scale, with a smooth nuisance that puts class means ``2 * separability`` nuisance standard
  deviations apart; no per-pixel noise) whose pixels differ between classes by tens of grey levels,
  far above any attack's eps. As in the theory, where the robust feature is exactly +-1, the default
  nuisance is small: images showing the same pattern are near copies, so a model cannot memorise
  the images whose pattern disagrees with their label without the non-robust features. The pattern an image shows is its own label's with probability
  ``robust_accuracy`` (the theory's p) and another class's, uniformly, otherwise: on their own the
  robust features give about ``robust_accuracy`` accuracy, however robustly they are read.
- **Non-robust features**: ``nonrobust_features`` (the theory's d; None: every pixel of every
  channel) pixel coordinates, chosen once by ``pattern_seed``, each x_i ~ N(eta * m_{y,i}, 1) with a
  random class code m_{y,i} = +-1, added to the image scaled so that the class means sit at
  +-``nonrobust_strength`` grey levels (units of 1/255), noise std ``nonrobust_strength / eta``.
  Independent per pixel, they are high-frequency; with d large they give nearly 100% accuracy.
  ``nonrobust_strength: 0`` removes them (the negative control).

An L-infinity attack of ``eps`` moves each of these coordinates by eps, i.e. by
``eta * eps * 255 / nonrobust_strength`` in the theory's units: at ``nonrobust_strength`` <= eps * 255
(1 for the paper's eps of 1/255) the attack reaches the theory's regime eps >= eta and can erase the
class code (at half of it, replace it by another class's). A model that learns the non-robust
features gains clean accuracy above ``robust_accuracy`` and loses robust accuracy: the trade-off,
by construction. Images are float32 and never quantised to 8 bits, so sub-grey-level codes survive.

The class patterns, the non-robust codes and the domain styles are the *task* and depend on
``pattern_seed`` alone; the examples drawn depend on ``data_seed`` (by default the run's seed). An
upstream task with the same ``pattern_seed``, ``robust_accuracy: 1`` and ``nonrobust_strength: 0``
pretrains a backbone on the robust features only (the demo profile's ``upstream`` for this task).

Domains (``domains=N``): the ``synthetic`` task's styles (colour rotation, contrast, stripes, scaled
by ``shift``) change the robust part; the non-robust codes are shared by every domain. Generate at
the model's resolution (``native_size`` = ``image_size``): resizing blurs the high-frequency codes.
"""
from __future__ import annotations

import numpy as np
import torch

from rftlib.data.catalog import DATASETS
from rftlib.data.memory_options import (FeatureModelOptions, check_feature_model, check_feature_options,  # noqa: F401  re-exported
                     coordinates)
from rftlib.data.synthetic import GAIN, apply_style, class_fields, generated_task, pattern_amplitude, prototypes
from rftlib.data.task import Task

GREY_LEVEL = 1 / 255


@DATASETS.register("feature_model")
def load_feature_model_task(*, name: str, image_size: int, seed: int, val_fraction: float,
                            domain: str | None, path, cache_dir, options: dict) -> Task:
    """The feature-model task (see the module docstring)."""
    opts = check_feature_model(name=name, domain=domain, path=path, options=options)
    return generated_task(name, opts, generate, image_size=image_size, seed=seed, val_fraction=val_fraction,
                          domain=domain, path=path)


load_feature_model_task.check = check_feature_model


def nonrobust_codes(opts: FeatureModelOptions) -> tuple[np.ndarray, np.ndarray]:
    """The flat pixel coordinates carrying non-robust features, (d,), and each class's +-1 code, (K, d).

    A class's code is a random +-1 tile of ``nonrobust_period`` pixels repeated over the image: a
    texture, which a patch-based model can learn once for every position.
    """
    rng = np.random.default_rng([opts.pattern_seed, 3])
    size, period = opts.native_size, opts.nonrobust_period
    tiles = rng.choice([-1.0, 1.0], size=(opts.num_classes, 3, period, period))
    reps = -(-size // period)
    codes = np.tile(tiles, (1, 1, reps, reps))[:, :, :size, :size].reshape(opts.num_classes, -1)
    total = coordinates(opts)
    d = total if opts.nonrobust_features is None else opts.nonrobust_features
    where = np.sort(rng.choice(total, size=d, replace=False))
    return where, codes[:, where]


def generate(opts: FeatureModelOptions, data_seed: int, split: int, domain: int, n: int):
    """``n`` images (float32 (n, 3, s, s) in [0, 1]) and balanced labels of one split of one domain."""
    k = opts.num_classes
    rng = np.random.default_rng([data_seed, 4, split, domain])
    labels = rng.permutation(np.arange(n) % k)
    # The robust pattern shown: the label's with probability p, else one of the other classes'.
    other = (labels + rng.integers(1, k, size=n)) % k
    shown = np.where(rng.random(n) < opts.robust_accuracy, labels, other)
    # Unit-scale patterns, so images look alike whatever the separability; it sets how little
    # nuisance there is (class means 2 * separability nuisance stds apart, as in ``synthetic``).
    protos = prototypes(opts, opts.pattern_seed)
    field = class_fields(opts, protos, shown, rng, 1.0, 1.0 / pattern_amplitude(opts, protos), 0.0)
    images = torch.sigmoid(GAIN * apply_style(field, opts.pattern_seed, domain, opts.shift))
    if opts.nonrobust_strength > 0:
        where, codes = nonrobust_codes(opts)
        # x_i ~ N(eta * m_{y,i}, 1), scaled so that its mean is nonrobust_strength grey levels.
        features = opts.eta * codes[labels] + rng.standard_normal((n, len(where)))
        scale = opts.nonrobust_strength * GREY_LEVEL / opts.eta
        flat = images.reshape(n, -1)
        flat[:, where] += torch.from_numpy(scale * features).float()
        images = flat.reshape(images.shape).clamp_(0.0, 1.0)
    return images, labels.astype(np.int64)
