"""Compacter (Karimi Mahabadi et al. 2021): bottleneck adapters whose layers are low-rank PHM layers.

Same placement as the Houlsby adapters (after attn.proj and after fc2, before the block's residual,
in every ViT or Swin block; CNN families refuse it),
bottleneck = hidden width / 32 (768 -> 24 for ViT-B), GELU. Each down/up projection is a
parameterised hypercomplex multiplication (PHM) layer with n = 4::

    W = sum_{i=1..n} A_i ⊗ B_i,   B_i = s_i t_i^T (rank 1),   y = x W + b

with ``A`` (n x n x n) the "rule" tensor, ONE Parameter shared by every Compacter layer of the model
(64 parameters for n = 4, counted once), and ``s_i``, ``t_i`` per layer. PHM layers have biases.

Initialisation follows AdapterHub's CompacterConfig (the library of the paper's code): the factors
``s_i``, ``t_i`` Glorot-uniform (each i separately), the shared rule N(0, 1e-4), biases 0. With so
small a rule the adapter starts near the identity; the rule is learned.
"""
from __future__ import annotations

import torch
from torch import nn

from rftlib.core.errors import RftError
from rftlib.strategies._bottleneck import ACTIVATIONS, Bottleneck, bottleneck_width, insert_adapters
from rftlib.strategies.config import CompacterOptions  # the options (torch-free) and their registry entry


class PHMLinear(nn.Module):
    """A linear layer with weight ``W = sum_i rule[i] ⊗ (left[i] @ right[i])`` of shape (in, out).

    Attributes:
        rule: (n, n, n) Parameter, possibly the same object in every PHMLinear of a model.
        left: (n, in / n, rank) Parameter, the s_i.
        right: (n, rank, out / n) Parameter, the t_i^T.
        bias: (out,) Parameter or None.
    """

    def __init__(self, in_features: int, out_features: int, rule: nn.Parameter, rank: int = 1,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        n = rule.shape[0]
        if in_features % n or out_features % n:
            raise RftError(f"compacter PHM layer {in_features} -> {out_features}: both widths must be multiples of phm_dim ({n})")
        self.in_features, self.out_features = in_features, out_features
        factory = {"device": device, "dtype": dtype}
        self.rule = rule  # registering a shared Parameter here ties it, as tied embeddings are
        self.left = nn.Parameter(torch.empty(n, in_features // n, rank, **factory))
        self.right = nn.Parameter(torch.empty(n, rank, out_features // n, **factory))
        self.bias = nn.Parameter(torch.zeros(out_features, **factory)) if bias else None
        with torch.no_grad():
            for i in range(n):  # Glorot-uniform on each factor of each summand, as AdapterHub
                nn.init.xavier_uniform_(self.left[i])
                nn.init.xavier_uniform_(self.right[i])

    def weight(self) -> torch.Tensor:
        """The (in, out) weight: the Kronecker sum written as one einsum (no n x n Python loop)."""
        n, p, q = self.rule.shape[0], self.in_features // self.rule.shape[0], self.out_features // self.rule.shape[0]
        factors = self.left @ self.right  # (n, p, q): the rank-r B_i
        # (A_i ⊗ B_i)[a p + r, b q + c] = A_i[a, b] B_i[r, c]
        return torch.einsum("iab,irc->arbc", self.rule, factors).reshape(n * p, n * q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weight()
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, phm_dim={self.rule.shape[0]}, rank={self.left.shape[-1]}"


def new_rule(options: CompacterOptions, **factory) -> nn.Parameter:
    n = options.phm_dim
    rule = nn.Parameter(torch.empty(n, n, n, **factory))
    with torch.no_grad():
        rule.normal_(0.0, options.rule_init_std)
    return rule


def apply(backbone: nn.Module, options: CompacterOptions) -> list[nn.Parameter]:
    shared = None

    def make(linear: nn.Linear) -> Bottleneck:
        nonlocal shared
        factory = {"device": linear.weight.device, "dtype": linear.weight.dtype}
        if options.shared_rule and shared is None:  # made at the first site, as before any layer
            shared = new_rule(options, **factory)
        width = linear.out_features
        bottleneck = bottleneck_width(width, options.reduction_factor, options.bottleneck, multiple_of=options.phm_dim)
        rule_down = shared if shared is not None else new_rule(options, **factory)
        rule_up = shared if shared is not None else new_rule(options, **factory)
        down = PHMLinear(width, bottleneck, rule_down, options.phm_rank, options.bias, **factory)
        up = PHMLinear(bottleneck, width, rule_up, options.phm_rank, options.bias, **factory)
        return Bottleneck(down, ACTIVATIONS[options.activation](), up)

    adapters = insert_adapters(backbone, "compacter", options.positions, make)
    unique = {id(p): p for adapter in adapters for p in adapter.parameters()}  # the shared rule once
    return list(unique.values())
