"""The in-memory datasets' options (digits, synthetic, feature_model) and their checks, without torch
or numpy: the loaders (:mod:`rftlib.data.digits`, ``.synthetic``, ``.feature_model``) call them when
they load, and ``RunConfig.validated()`` before anything loads (:mod:`rftlib.data.checks`)."""
from __future__ import annotations

from dataclasses import dataclass

from rftlib.core.errors import RftError, unknown_choice
from rftlib.core.options import build_dataclass


def reject_path_and_domain(name: str, path, domain) -> None:
    """In-memory datasets take neither ``path`` nor (without domains) ``domain``."""
    if path is not None:
        raise RftError(f"{name} is built in memory and takes no path=; path= applies to the hub datasets")
    if domain is not None:
        raise RftError(f"{name} has no domains; domain= applies to: domainnet, synthetic (with domains=N)")


@dataclass(frozen=True)
class DigitsOptions:
    """test_fraction: share of the 1797 images in the test split; data_seed: seed of that split
    (None: the task's seed)."""

    test_fraction: float = 0.2
    data_seed: int | None = None


def check_digits(*, name: str, domain: str | None, path, options: dict, **_) -> DigitsOptions:
    """The options, path and domain, checked before anything loads."""
    opts = build_dataclass(DigitsOptions, options, f"{name} option")
    if not 0.0 < opts.test_fraction < 1.0:
        raise RftError(f"{name} option 'test_fraction' must be in (0, 1), got {opts.test_fraction!r}")
    if opts.data_seed is not None and opts.data_seed < 0:
        raise RftError(f"{name} option 'data_seed' must be None or an integer >= 0, got {opts.data_seed}")
    reject_path_and_domain(name, path, domain)
    return opts


@dataclass(frozen=True)
class SyntheticOptions:
    """Knobs of the synthetic task (see :mod:`rftlib.data.synthetic`). ``train_size`` includes the
    validation hold-out and, like ``test_size``, counts one domain's examples."""

    num_classes: int = 10
    separability: float = 2.0
    train_size: int = 5000
    test_size: int = 1000
    domains: int | None = None
    shift: float = 0.5
    native_size: int = 32
    data_seed: int | None = None


def check_options(name: str, opts: SyntheticOptions) -> None:
    def bad(what: str) -> RftError:
        return RftError(f"{name} option {what}")

    if opts.num_classes < 2:
        raise bad(f"'num_classes' must be at least 2, got {opts.num_classes}")
    if not opts.separability >= 0:
        raise bad(f"'separability' must be >= 0, got {opts.separability}")
    if opts.train_size < 2 or opts.test_size < 1:
        raise bad(f"'train_size' must be >= 2 and 'test_size' >= 1, got {opts.train_size} and {opts.test_size}")
    if opts.domains is not None and opts.domains < 2:
        raise bad(f"'domains' must be None or at least 2 (one to train on, others for OOD), got {opts.domains}")
    if not opts.shift >= 0:
        raise bad(f"'shift' must be >= 0, got {opts.shift}")
    if opts.native_size < 4:
        raise bad(f"'native_size' must be at least 4 pixels, got {opts.native_size}")
    if opts.data_seed is not None and opts.data_seed < 0:  # numpy's generators take no negative seed
        raise bad(f"'data_seed' must be None or an integer >= 0, got {opts.data_seed}")


def domain_names(name: str, opts: SyntheticOptions, path, domain: str | None) -> tuple[str, ...] | None:
    """The domain names d0 ... d{N-1} (None without domains), once ``path`` and ``domain`` are checked."""
    if opts.domains is None:
        reject_path_and_domain(name, path, domain)
        return None
    reject_path_and_domain(name, path, None)
    names = tuple(f"d{i}" for i in range(opts.domains))
    if domain is None:
        raise RftError(f"{name} with domains needs domain= (the training domain); valid: {', '.join(names)}")
    if domain not in names:
        raise unknown_choice(f"{name} domain", domain, names)
    return names


def check_synthetic(*, name: str, domain: str | None, path, options: dict, **_) -> SyntheticOptions:
    """The task's options, checked with its path and domain before anything is generated (also by
    ``RunConfig.validated()``, before a run directory is written)."""
    opts = build_dataclass(SyntheticOptions, options, f"{name} option")
    check_options(name, opts)
    domain_names(name, opts, path, domain)
    return opts


@dataclass(frozen=True)
class FeatureModelOptions(SyntheticOptions):
    """Knobs of the feature-model task (see :mod:`rftlib.data.feature_model`); the ``synthetic`` task's options
    mean the same here (``separability`` is that of the robust patterns)."""

    separability: float = 100.0
    native_size: int = 16
    robust_accuracy: float = 0.8
    """The theory's p: the share of images whose robust pattern is their own class's."""
    nonrobust_strength: float = 1.0
    """Class means of the non-robust features, +- this many grey levels (1/255); 0 disables them."""
    eta: float = 1.0
    """The theory's eta: mean / noise std of each non-robust feature."""
    nonrobust_features: int | None = None
    """The theory's d: pixel coordinates carrying a non-robust feature; None: all 3 * native_size**2."""
    nonrobust_period: int = 4
    """Side in pixels of the tile the class codes repeat on (a texture; the demo ViT's patch size)."""
    pattern_seed: int = 0
    """Seed of the task itself (patterns, codes, styles), shared by upstream and downstream tasks."""


def coordinates(opts: FeatureModelOptions) -> int:
    return 3 * opts.native_size ** 2


def check_feature_options(name: str, opts: FeatureModelOptions) -> None:
    def bad(what: str) -> RftError:
        return RftError(f"{name} option {what}")

    if not opts.separability > 0:
        raise bad(f"'separability' must be > 0 (it sets the nuisance: 1 / separability), got {opts.separability}")
    if not 0.0 <= opts.robust_accuracy <= 1.0:
        raise bad(f"'robust_accuracy' must lie in [0, 1], got {opts.robust_accuracy}")
    if not opts.nonrobust_strength >= 0:
        raise bad(f"'nonrobust_strength' must be >= 0 grey levels (0 disables them), got {opts.nonrobust_strength}")
    if not opts.eta > 0:
        raise bad(f"'eta' must be > 0, got {opts.eta}")
    if not 1 <= opts.nonrobust_period <= opts.native_size:
        raise bad(f"'nonrobust_period' must lie in [1, native_size = {opts.native_size}], got {opts.nonrobust_period}")
    if opts.pattern_seed < 0:  # numpy's generators take no negative seed
        raise bad(f"'pattern_seed' must be an integer >= 0, got {opts.pattern_seed}")
    d = opts.nonrobust_features
    if d is not None and not 1 <= d <= coordinates(opts):
        raise bad(f"'nonrobust_features' must be None or in [1, {coordinates(opts)}] (3 * native_size**2), got {d}")


def check_feature_model(*, name: str, domain: str | None, path, options: dict, **_) -> FeatureModelOptions:
    """The task's options, checked with its path and domain before anything is generated."""
    opts = build_dataclass(FeatureModelOptions, options, f"{name} option")
    check_options(name, opts)
    check_feature_options(name, opts)
    domain_names(name, opts, path, domain)
    return opts


__all__ = ["DigitsOptions", "FeatureModelOptions", "SyntheticOptions", "check_digits", "check_feature_model",
           "check_feature_options", "check_options", "check_synthetic", "coordinates", "domain_names",
           "reject_path_and_domain"]
