"""(IA)^3 (Liu et al. 2022) through peft: learned vectors, initialised to 1, scaling activations.

Paper configuration: scale the *outputs* of k and v (not q), of fc1 (before the GELU) and of fc2, in
every block. peft's IA3Config scales the *input* of the modules it lists as ``feedforward_modules``
and the output of the others, so none are listed as feedforward here. timm's fused ``attn.qkv`` is
first split into ``q``, ``k``, ``v`` (:mod:`rftlib.strategies._qkv`) so k and v can be scaled
without q. At initialisation every vector is 1 and the model is unchanged.

Other families scale the outputs of the layers playing the same roles
(:mod:`rftlib.strategies.families`); on a ResNet those are convolutions followed by frozen BatchNorms.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ._base import PEFT_DEFAULTS, register
from ._peft import inject_peft
from .families import check_roles, exact_regex


@dataclass(frozen=True)
class IA3Options:
    """(IA)^3 hyperparameters (defaults: the paper's).

    Attributes:
        targets: roles of the layers of every block whose output is scaled, from q, k, v (the split
            qkv), proj, fc1, fc2; each family maps them to its own layers.
    """

    targets: tuple[str, ...] = ("k", "v", "fc1", "fc2")

    def __post_init__(self):
        check_roles(self.targets, "ia3")


@register("ia3", options=IA3Options, defaults=PEFT_DEFAULTS, summary="scaling vectors on k, v, fc1, fc2 outputs")
def apply(backbone: nn.Module, options: IA3Options) -> list[nn.Parameter]:
    from peft import IA3Config  # imported on use: peft is slow to import

    def config(names, family):
        return IA3Config(target_modules=exact_regex(names),
                         feedforward_modules=[],  # scale outputs everywhere (see the module docstring)
                         init_ia3_weights=True)

    return inject_peft(backbone, "ia3", options.targets, config, markers=(".ia3_l.",))
