"""TRADES' inner maximisation: L-infinity PGD on the KL divergence from the clean prediction.

Zhang, Yu, Jiao, Xing, El Ghaoui and Jordan, "Theoretically Principled Trade-off between Robustness
and Accuracy", ICML 2019 (https://arxiv.org/abs/1901.08573), Algorithm 1 and the authors' code
(``trades.py``): start at x + 0.001 * N(0, I), ascend sign(grad KL(p(x) || p(x'))), project onto the
eps ball and [0, 1]; model in eval mode. The same attack as torchattacks' ``TPGD``, which the tests
compare it with; here it runs on rftlib's PGD (bf16 autocast, frozen parameters, exact restoring).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError
from rftlib.attacks.pgd import PGD, _describe, frozen_eval

#: Standard deviation of TRADES' random start (the authors' code).
TRADES_START_STD = 0.001


class TradesKL(PGD):
    """PGD that maximises KL(p(x) || p(x')) instead of the cross-entropy (TRADES' attack).

    Arguments are PGD's (``early_stop`` does not apply: there is no label to fool). The defaults are
    the paper's CIFAR-10 settings: eps 8/255 (0.031), step 2/255 (0.007), 10 steps. ``random_start``
    draws TRADES' start, x + 0.001 * N(0, I), kept in the eps ball and [0, 1].

    Call it with the clean images and, optionally, the clean class probabilities ``p(x)`` as the
    "labels" (a float tensor (N, classes)); without them they are computed first, in eval mode under
    the attack's autocast, as the authors' code does.

    Examples::

        >>> attack = TradesKL(model, eps=1 / 255, alpha=0.25 / 255, steps=10)
        >>> adv = attack(images, generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10,
                 random_start: bool = True, autocast_dtype: torch.dtype | None = None):
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start, early_stop=False,
                         autocast_dtype=autocast_dtype)

    def __repr__(self) -> str:
        return super().__repr__().replace("PGD(", "TradesKL(", 1)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        return self.attack(images, labels, generator=generator)

    def attack(self, images: torch.Tensor, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        if labels is None and isinstance(images, torch.Tensor) and images.is_floating_point():
            labels = self.clean_distribution(images)
        return super().attack(images, labels, generator=generator)

    def clean_distribution(self, images: torch.Tensor) -> torch.Tensor:
        """p(x): the model's class probabilities on ``images`` (fp32), in eval mode, no gradients."""
        with frozen_eval(self.model), torch.no_grad(), self._autocast(images.device):
            return F.softmax(self.model(images).float(), dim=1)

    def _check_labels(self, images: torch.Tensor, labels: object) -> None:
        if not isinstance(labels, torch.Tensor) or not labels.is_floating_point() or labels.dim() != 2:
            raise RftError(f"TradesKL targets must be clean class probabilities, a float tensor (N, classes), "
                           f"got {_describe(labels)}")
        if labels.shape[0] != images.shape[0]:
            raise RftError(f"TradesKL targets must have {images.shape[0]} rows to match the images, "
                           f"got {tuple(labels.shape)}")

    def _start(self, clean, low, high, generator):
        if generator is None:
            noise = torch.randn_like(clean)
        else:
            noise = torch.randn(clean.shape, dtype=clean.dtype, device=generator.device, generator=generator)
        return noise.to(clean.device).mul_(TRADES_START_STD).add_(clean).clamp_(low, high)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # KL(p || q) summed over the batch, q = softmax(logits): F.kl_div takes log q and p.
        return F.kl_div(F.log_softmax(logits.float(), dim=1), labels, reduction="sum")
