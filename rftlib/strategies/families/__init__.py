"""Where the strategies act in each architecture family: one module per family, a registry keyed on
timm's model class.

The paper places its strategies by *role* inside a ViT block: LoRA on the query, key and value
projections and on the MLP's two linears, (IA)^3 on key, value and the MLP, adapters after the
attention output and after the MLP. The strategies speak only of these roles (``q``, ``k``, ``v``,
``proj``, ``fc1``, ``fc2``, and the adapter positions ``attn``, ``mlp``); a :class:`Family` says which
layers of its blocks play each role. A strategy therefore never names an architecture, and a new
family is one module in this package that calls :func:`register_family` (from ``.base``), and one
import below.

=========  ==========================  ============================================  ===========================
family     timm classes                roles -> layers of every block                 adapters after
=========  ==========================  ============================================  ===========================
vit        VisionTransformer (+ DeiT,  q, k, v: the split ``attn.qkv``; proj:         ``attn.proj``, ``mlp.fc2``
           any subclass)               ``attn.proj``; fc1, fc2: ``mlp.fc1/fc2``
swin       SwinTransformer (v1)        as vit, in ``layers[i].blocks[j]``             ``attn.proj``, ``mlp.fc2``
convnext   ConvNeXt                    fc1, fc2: ``mlp.fc1/fc2``; q, k, v, proj:      refused (no attention
                                       none (the depthwise conv has no projection)   block; see convnext.py)
resnet     ResNet                      q, k, v, proj: the 3x3 convs; fc1, fc2: the    refused (see resnet.py)
                                       1x1 convs around them (Bottleneck)
clip       ClipImageClassifier         q, k, v: ``attn.in_proj`` split (open_clip's    ``attn.out_proj``,
           (open_clip's                MultiheadAttention as Linear modules); proj:   ``mlp.c_proj``
           VisionTransformer)          ``attn.out_proj``; fc1, fc2: ``mlp.c_fc/c_proj``
=========  ==========================  ============================================  ===========================

Models of no family take full, linear_probe and bitfit, which need no placement.
"""
from __future__ import annotations

from rftlib.strategies.families.base import (FAMILIES, PEFT_LAYERS, POSITIONS, ROLES, Family, adapter_sites, all_families, check_roles,
                   describe, exact_regex, family_of, family_of_name, needs_split, placement, register_family,
                   require_family, role_layers, role_paths, staged_blocks)

# Importing the family modules fills the registry (they import .base, never this package: no cycle).
from rftlib.strategies.families import vit, swin, convnext, resnet, clip  # noqa: E402,F401  isort: skip
