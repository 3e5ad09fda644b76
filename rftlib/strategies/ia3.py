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

from torch import nn

from rftlib.strategies._peft import inject_peft
from rftlib.strategies.config import IA3Options  # the options (torch-free) and their registry entry
from rftlib.strategies.families import exact_regex


def apply(backbone: nn.Module, options: IA3Options) -> list[nn.Parameter]:
    from peft import IA3Config  # imported on use: peft is slow to import

    def config(names, family):
        return IA3Config(target_modules=exact_regex(names),
                         feedforward_modules=[],  # scale outputs everywhere (see the module docstring)
                         init_ia3_weights=True)

    return inject_peft(backbone, "ia3", options.targets, config, markers=(".ia3_l.",))
