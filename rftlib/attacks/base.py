"""What every attack shares: the model left as found, checked inputs and options, the random start.

The contract of an attack in :mod:`rftlib.attacks`: images in [0, 1] of shape (N, C, H, W), integer
labels, any device; ``attack(images, labels, generator=None)`` returns adversarial images of the
same shape, dtype and device inside the eps ball and [0, 1]; the model comes back exactly as found
(train/eval mode of every submodule, ``requires_grad`` and ``.grad`` of every parameter) and, given a
``generator``, the global RNG is untouched.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from rftlib.core.errors import RftError
from rftlib.attacks.settings import check_count, positive_number  # noqa: F401  re-exported: the attacks' value checks

AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class AttackOutcome:
    """What an attack found: per sample the adversarial image and whether the model resisted it."""

    adversarial: torch.Tensor
    robust: torch.Tensor  # bool, (N,): True where no point found fools the model


class OutcomeAttack:
    """An attack whose ``run(images, labels, generator)`` returns an :class:`AttackOutcome`; calling it,
    or ``attack(...)``, returns the adversarial images alone, as :class:`~rftlib.attacks.PGD` does."""

    def run(self, images: torch.Tensor, labels: torch.Tensor,
            generator: torch.Generator | None = None) -> AttackOutcome:
        raise NotImplementedError

    def __call__(self, images: torch.Tensor, labels: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        return self.attack(images, labels, generator=generator)

    def attack(self, images: torch.Tensor, labels: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Adversarial versions of ``images`` (same shape, dtype, device), inside the eps ball and [0, 1]."""
        return self.run(images, labels, generator=generator).adversarial


def check_eps(eps: object, who: str) -> float:
    eps = positive_number(eps, "eps", who)
    if eps > 1:
        # Images are in [0, 1]: eps = 8 almost certainly meant 8/255.
        raise RftError(f"{who} eps must be at most 1 (pixel space [0, 1]; 8/255 = {8 / 255:.4f}), got {eps!r}")
    return eps


def check_autocast(dtype: object, who: str) -> torch.dtype | None:
    if dtype is not None and dtype not in AUTOCAST_DTYPES:
        raise RftError(f"{who} autocast_dtype must be None, torch.bfloat16 or torch.float16, got {dtype!r}")
    return dtype


def autocast_for_dtype(device: torch.device, dtype: torch.dtype | None):
    """Autocast to ``dtype`` on ``device``'s type, or nothing for None (full precision)."""
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


@contextlib.contextmanager
def frozen_eval(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode with every parameter's ``requires_grad`` off, then restore both exactly.

    Modes are restored per submodule: a model in train mode with a frozen, eval-mode part (a common
    fine-tuning set-up) must come back that way, which ``model.train()`` alone would not do. Turning
    ``requires_grad`` off means the forward pass saves no activations for weight gradients and the
    backward pass cannot write any ``.grad``.
    """
    modes = [(module, module.training) for module in model.modules()]
    flags = [(param, param.requires_grad) for param in model.parameters()]
    try:
        model.eval()
        for param, _ in flags:
            param.requires_grad_(False)
        yield
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)
        # train(mode) first, so modules that override train() see the call they saw before the
        # attack; then the per-module flags, which is what "as it was" means.
        model.train(modes[0][1])  # modes[0] is the model itself
        for module, mode in modes:
            module.training = mode


def check_images(images: object, who: str) -> None:
    """One-line RftError for images that are not a float batch in [0, 1]."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise RftError(f"{who} images must be a floating-point tensor, got {_describe(images)}")
    if images.dim() < 2:
        raise RftError(f"{who} images must have a batch dimension, got shape {tuple(images.shape)}")
    if images.numel():
        low, high = torch.stack(torch.aminmax(images.detach())).tolist()  # one device sync
        # Written so that NaN fails too.
        if not (low >= 0 and high <= 1):
            raise RftError(
                f"{who} images must be in [0, 1] (normalisation belongs inside the model), got range "
                f"[{low:.4g}, {high:.4g}]"
            )


def check_labels(images: torch.Tensor, labels: object, who: str) -> None:
    """One-line RftError for labels that are not integers, one per image."""
    if not isinstance(labels, torch.Tensor) or labels.dtype == torch.bool or not _is_integer(labels):
        raise RftError(f"{who} labels must be an integer tensor, got {_describe(labels)}")
    if labels.shape != images.shape[:1]:
        raise RftError(
            f"{who} labels must have shape ({images.shape[0]},) to match the images, got {tuple(labels.shape)}"
        )


def check_inputs(images: object, labels: object, who: str) -> None:
    """Images and labels as above, and gradients available (not under ``torch.inference_mode``)."""
    check_images(images, who)
    check_labels(images, labels, who)
    if torch.is_inference_mode_enabled():
        raise RftError(f"{who} needs gradients: call it outside torch.inference_mode()")


class PointStream:
    """A random stream tied to points, not to positions in a batch: every draw is made for all ``total``
    points of a set (from ``generator``, in one fixed shape) and the rows of the points at hand taken from it.
    A point's random start is then the same whichever other points share its batch: attacking a subset
    (the survivors of a robustness curve, the points left for a restart) draws for each point exactly what
    attacking all of them would. Pass it where an attack takes a ``generator``."""

    def __init__(self, generator: torch.Generator, rows: torch.Tensor, total: int):
        self.generator, self.total = generator, int(total)
        self.rows = rows.to(generator.device)

    @classmethod
    def over(cls, generator: torch.Generator, total: int) -> "PointStream":
        return cls(generator, torch.arange(total, device=generator.device), total)

    @property
    def device(self) -> torch.device:
        return self.generator.device

    def subset(self, index: torch.Tensor) -> "PointStream":
        """The stream of the points at positions ``index`` of this one's."""
        return PointStream(self.generator, self.rows[index.to(self.rows.device)], self.total)

    def draw(self, like: torch.Tensor, fill) -> torch.Tensor:
        """``fill(shape, device, generator)`` drawn for all points, this stream's rows shaped like ``like``."""
        if like.shape[0] != len(self.rows):
            raise RftError(f"a PointStream of {len(self.rows)} points cannot draw for {like.shape[0]}")
        full = fill((self.total, *like.shape[1:]), self.generator.device, self.generator)
        return full[self.rows].to(like.device)


def subset_stream(generator, index: torch.Tensor):
    """The generator for the points at ``index`` of a batch: a PointStream's subset, else the generator."""
    return generator.subset(index) if isinstance(generator, PointStream) else generator


def _noise(like: torch.Tensor, generator: torch.Generator | PointStream | None, draw, draw_like) -> torch.Tensor:
    """Noise shaped like ``like`` from ``draw(shape, dtype=, device=, generator=)``, on ``like``'s device.

    A generator can only fill tensors on its own device (a CPU generator for CUDA images, say): the
    noise is drawn there, then moved. Without a generator the global RNG of the images' device draws
    (``draw_like``); a ``PointStream`` draws each point's noise from the point's own stream.
    """
    if generator is None:
        return draw_like(like)
    fill = lambda shape, device, gen: draw(shape, dtype=like.dtype, device=device, generator=gen)  # noqa: E731
    if isinstance(generator, PointStream):
        return generator.draw(like, fill)
    return fill(like.shape, generator.device, generator).to(like.device)


def random_like(like: torch.Tensor, generator: torch.Generator | PointStream | None) -> torch.Tensor:
    """Uniform [0, 1) noise shaped like ``like``, on its device, drawn from ``generator`` if given."""
    return _noise(like, generator, torch.rand, torch.rand_like)


def normal_like(like: torch.Tensor, generator: torch.Generator | PointStream | None) -> torch.Tensor:
    """Standard normal noise shaped like ``like``, on its device, drawn from ``generator`` if given."""
    return _noise(like, generator, torch.randn, torch.randn_like)


def uniform_noise(like: torch.Tensor, eps: float, generator: torch.Generator | PointStream | None) -> torch.Tensor:
    """Noise uniform in [-eps, eps], shaped like ``like``, drawn from ``generator`` if given."""
    if generator is None:
        return torch.empty_like(like).uniform_(-eps, eps)
    fill = lambda shape, device, gen: torch.empty(shape, dtype=like.dtype, device=device).uniform_(  # noqa: E731
        -eps, eps, generator=gen)
    if isinstance(generator, PointStream):
        return generator.draw(like, fill)
    return fill(like.shape, generator.device, generator).to(like.device)


def _is_integer(tensor: torch.Tensor) -> bool:
    return not (tensor.is_floating_point() or tensor.is_complex())


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__
