"""The ResNet family: timm's ``ResNet`` (He et al. 2016), Bottleneck (ResNet-50 and deeper) and
BasicBlock (ResNet-18/34) blocks.

Blocks: ``layer{1..4}[j]``. By role, as the paper's rule carried over to convolutions:

- the attention roles (q, k, v, proj) are the 3x3 convolutions, the block's spatial mixing:
  ``conv2`` in a Bottleneck, ``conv1`` and ``conv2`` in a BasicBlock;
- the MLP roles are the 1x1 convolutions around it, which mix channels per position: fc1 =
  ``conv1`` and fc2 = ``conv3`` in a Bottleneck (a BasicBlock has none).

So the paper's LoRA targets (q, k, v, fc1, fc2) and (IA)^3 targets (k, v, fc1, fc2) both adapt every
convolution of every block through peft. The stem and the shortcut projections (``downsample``) are
outside the blocks' main path and stay frozen.

(IA)^3 scales each convolution's output channels, as it scales a ViT's outputs. A BatchNorm follows
every convolution; in training mode it would divide a per-channel output scale back out (BN(s * x) =
BN(x) for s > 0) and learn nothing, but a BatchNorm whose parameters a strategy freezes keeps its
pretrained statistics in eval mode (:mod:`rftlib.strategies._batchnorm`), where the scale acts.

Adapters and Compacter: refused. The established adapters for ResNets are the residual adapters of
Rebuffi, Bilen and Vedaldi ("Learning multiple visual domains with residual adapters", NeurIPS
2017): a 1x1 convolution with BatchNorm beside every 3x3 convolution, trained per domain. That is a
different module from Houlsby's bottleneck adapter and Compacter's PHM layers, and it is not
provided by peft or by rftlib; running it under the name "adapter" would compare another method.
"""
from __future__ import annotations

from torch import nn

from rftlib.strategies.families.base import Family, register_family

ATTENTION = ("q", "k", "v", "proj")


def blocks(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(f"layer{k}.{j}", block) for k in range(1, 5) for j, block in enumerate(getattr(backbone, f"layer{k}"))]


def roles(block: nn.Module) -> dict[str, tuple[str, ...]]:
    if hasattr(block, "conv3"):  # Bottleneck: 1x1 reduce, 3x3, 1x1 expand
        return {**dict.fromkeys(ATTENTION, ("conv2",)), "fc1": ("conv1",), "fc2": ("conv3",)}
    return dict.fromkeys(ATTENTION, ("conv1", "conv2"))  # BasicBlock: two 3x3 convolutions


RESNET = register_family(Family(
    name="resnet",
    classes=("ResNet",),
    blocks=blocks,
    roles=roles,
    adapter_refusal=("bottleneck adapters are defined for transformer blocks; ResNets' established adapters "
                     "(Rebuffi et al., NeurIPS 2017, residual adapters) are another module, not provided"),
    # zero_init_last=False: timm zeroes each block's last BatchNorm scale at random init, which would
    # cut every block's branch (and its gradients) from a model that is never pretrained.
    tiny=("resnet50", {"layers": (1, 1, 1, 1), "channels": (8, 8, 16, 16), "stem_width": 8, "zero_init_last": False}),
))
