"""The ``corruptions`` setting of a run (``RunConfig.corruptions``): which of the common corruptions
(Hendrycks & Dietterich, ICLR 2019), at which severities, on how many images, and its checks, without
torch or numpy; the corruptions themselves are in :mod:`rftlib.data.corruptions`."""
from __future__ import annotations

from dataclasses import dataclass, field

from rftlib.core.errors import RftError, unknown_choice
from rftlib.core.options import build_dataclass

#: The 15 corruptions of the benchmark (ImageNet-C / CIFAR-10-C), in its order:
#: imagecorruptions.get_corruption_names("common"), written out so validating a config needs no import.
COMMON_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
MIN_IMAGE_SIZE = 32


@dataclass(frozen=True)
class CorruptionOptions:
    """Which corruptions to measure, and on how many images.

    Attributes:
        names: corruptions to apply (default: all 15 of :data:`COMMON_CORRUPTIONS`).
        severities: severities 1-5; a corruption's accuracy is the mean over them (the benchmark's mCE
            averages all five; the default, 3, the middle one, costs a fifth of that). With two or more,
            records also hold the severity curves (:func:`severity_accuracies`); ``[1, 2, 3, 4, 5]`` with
            ``corruption_acc`` gives the usual mean corruption accuracy.
        size: images, a seeded subset of the evaluation subset; None: all of it. Each evaluation costs
            size * len(names) * len(severities) forward passes.
    """

    names: list[str] | None = None
    severities: list[int] = field(default_factory=lambda: [3])
    size: int | None = None

    @property
    def chosen(self) -> list[str]:
        return list(self.names) if self.names is not None else list(COMMON_CORRUPTIONS)


def corruption_options(values: dict | None = None) -> CorruptionOptions:
    """The options from a mapping, checked: an unknown key or corruption, a severity outside 1-5, a
    size below 1 or an empty list each raise one RftError line naming the valid choices."""
    options = build_dataclass(CorruptionOptions, dict(values or {}), "corruptions option")
    for name in options.chosen:
        if name not in COMMON_CORRUPTIONS:
            raise unknown_choice("corruption", name, COMMON_CORRUPTIONS)
    if not options.chosen or len(set(options.chosen)) != len(options.chosen):
        raise RftError(f"corruptions option 'names' must list distinct corruptions, got {options.names!r}")
    if not options.severities or any(s not in range(1, 6) for s in options.severities) \
            or len(set(options.severities)) != len(options.severities):
        raise RftError(f"corruption severities are distinct integers from 1 to 5, got {options.severities!r}")
    if options.size is not None and options.size < 1:
        raise RftError(f"corruptions option 'size' must be at least 1, got {options.size}")
    return options


def check_image_size(image_size: int) -> None:
    """imagecorruptions needs images of at least 32 px: one line otherwise."""
    if image_size < MIN_IMAGE_SIZE:
        raise RftError(f"common corruptions need images of at least {MIN_IMAGE_SIZE} px (imagecorruptions' "
                       f"limit), this run's are {image_size} px; set image_size >= {MIN_IMAGE_SIZE} or drop "
                       f"corruptions")


__all__ = ["COMMON_CORRUPTIONS", "MIN_IMAGE_SIZE", "CorruptionOptions", "check_image_size", "corruption_options"]
