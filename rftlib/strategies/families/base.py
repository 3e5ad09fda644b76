"""The family machinery: :class:`Family`, the registry and the lookups the strategies use. The
package (``__init__``) imports it and then each family module, which registers itself here."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from torch import nn

from rftlib.core.errors import RftError
from rftlib.core.registry import Registry
from rftlib.strategies._qkv import SplitQKV
from rftlib.strategies.roles import POSITIONS, ROLES, check_roles  # noqa: F401  re-exported: the families' names for them

#: Layer types peft's LoRA and (IA)^3 can wrap.
PEFT_LAYERS = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True)
class Family:
    """One architecture family.

    Attributes:
        name: registry name ("vit", "swin", ...).
        classes: names of the timm model classes of the family; a subclass of one belongs too.
        blocks: ``blocks(backbone) -> [(qualified name, block), ...]``, every block in forward order.
        roles: ``roles(block) -> {role: (path inside the block, ...)}``; a role absent or empty has no
            layer in that block. Paths are as after :attr:`fused_qkv` is split.
        fused_qkv: path inside a block of a fused query/key/value Linear that is split
            (:mod:`rftlib.strategies._qkv`) before q, k or v is adapted; None if there is none.
        adapter_sites: position -> path inside a block of the Linear whose output gets an adapter;
            empty where the family takes no bottleneck adapters.
        adapter_refusal: why the family takes no adapters (for the one-line error).
        tiny: ``(timm model name, timm kwargs)`` of a CPU-sized model of the family at 32 px (tests,
            ``rft bench --quick``).
        size_kwargs: the input-size arguments the family's timm constructor takes (``img_size``,
            ``patch_size``); a CNN takes any input size and none of them.
    """

    name: str
    classes: tuple[str, ...]
    blocks: Callable[[nn.Module], list[tuple[str, nn.Module]]]
    roles: Callable[[nn.Module], Mapping[str, tuple[str, ...]]]
    tiny: tuple[str, dict]
    size_kwargs: tuple[str, ...] = ()
    fused_qkv: str | None = None
    adapter_sites: Mapping[str, str] = field(default_factory=dict)
    adapter_refusal: str = ""


FAMILIES: Registry[Family] = Registry("model family")


def register_family(family: Family) -> Family:
    FAMILIES.add(family.name, family)
    return family


def all_families() -> list[Family]:
    return [FAMILIES.get(name) for name in FAMILIES]


def staged_blocks(stages: str) -> Callable[[nn.Module], list[tuple[str, nn.Module]]]:
    """``blocks`` for models whose blocks sit in ``backbone.<stages>[i].blocks[j]`` (Swin, ConvNeXt)."""

    def blocks(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
        return [(f"{stages}.{i}.blocks.{j}", block)
                for i, stage in enumerate(getattr(backbone, stages)) for j, block in enumerate(stage.blocks)]

    return blocks


def family_of(backbone: nn.Module) -> Family | None:
    """The family of ``backbone``: the first registered class name along its class hierarchy."""
    by_class = {cls: family for family in all_families() for cls in family.classes}
    for cls in type(backbone).__mro__:
        if cls.__name__ in by_class:
            return by_class[cls.__name__]
    return None


def family_of_name(name: str) -> Family | None:
    """The family of the timm model ``name``, from its class (built on the meta device, no weights)."""
    from rftlib.models import build_model

    return family_of(build_model(name, pretrained=False, device="meta").backbone)


def describe(families: Iterable[Family]) -> str:
    return ", ".join(f"{f.name} ({'/'.join(f.classes)})" for f in families)


def require_family(backbone: nn.Module, strategy: str, *, adapters: bool = False) -> Family:
    """The family of ``backbone`` if it supports ``strategy``; otherwise one RftError line naming the
    families that do."""
    family = family_of(backbone)
    supported = [f for f in all_families() if f.adapter_sites or not adapters]
    if family is not None and family in supported:
        return family
    if family is not None:  # a known family that refuses bottleneck adapters
        reason = f"{family.name}: {family.adapter_refusal}"
    else:
        reason = f"{type(backbone).__name__} is in no family; full, linear_probe and bitfit work on any model"
    raise RftError(f"strategy {strategy!r} supports the families {describe(supported)}; {reason}")


def _layer(block: nn.Module, path: str, family: Family, block_name: str, fused: bool) -> nn.Module:
    """The Linear or Conv2d at ``path`` in ``block`` (its fused qkv, if not yet split); RftError if none."""
    if fused and family.fused_qkv and path.startswith(family.fused_qkv + "."):
        path = family.fused_qkv
    try:
        layer = block.get_submodule(path)
    except AttributeError:
        layer = None
    if not isinstance(layer, (*PEFT_LAYERS, SplitQKV)):
        found = type(layer).__name__ if layer is not None else "nothing"
        raise RftError(
            f"{family.name} block {block_name} has {found} at {path!r} where a Linear or Conv2d was expected; "
            f"is it a {'/'.join(family.classes)} of another layout?"
        )
    return layer


def role_layers(backbone: nn.Module, family: Family, roles: Iterable[str], strategy: str,
                check: Callable[[str, nn.Module], None] | None = None) -> list[str]:
    """Qualified names (as after the qkv split) of the layers playing ``roles`` in every block, in
    block order; checks them all (and ``check(name, layer)`` on each, the fused qkv for q, k, v)
    before anything changes. RftError when they select no layer."""
    roles = tuple(roles)
    names = []
    for block_name, block in family.blocks(backbone):
        for path in role_paths(family, block, roles):
            layer = _layer(block, path, family, block_name, fused=True)
            if check is not None:
                check(f"{block_name}.{path}", layer)
            names.append(f"{block_name}.{path}")
    if not names:
        raise RftError(
            f"{strategy} targets {', '.join(roles)} select no layer of a {family.name} model "
            f"(see rftlib.strategies.families.{family.name}); choose other targets"
        )
    return names


def role_paths(family: Family, block: nn.Module, roles: Iterable[str]) -> list[str]:
    """Paths inside ``block`` of the layers playing ``roles``, each layer once, in role order."""
    mapping = family.roles(block)
    return list(dict.fromkeys(p for role in roles for p in mapping.get(role, ())))


def placement(backbone: nn.Module, options) -> str:
    """Where a strategy with ``options`` acts in ``backbone``'s blocks, for tables: "vit: attn.qkv.q,
    ..." (the layers of its ``targets`` roles, or its adapter ``positions``); "" when it names none."""
    family = family_of(backbone)
    if family is None:
        return ""
    if hasattr(options, "targets"):
        paths = dict.fromkeys(p for _, block in family.blocks(backbone) for p in role_paths(family, block, options.targets))
    elif hasattr(options, "positions") and family.adapter_sites:
        paths = dict.fromkeys(family.adapter_sites[p] for p in options.positions)
    else:
        return ""
    return f"{family.name}: {', '.join(paths)}"


def needs_split(family: Family, names: Iterable[str]) -> bool:
    """Whether any of ``names`` lies inside the fused qkv (so it must be split first)."""
    return family.fused_qkv is not None and any(f".{family.fused_qkv}." in f".{n}" for n in names)


def exact_regex(names: Iterable[str]) -> str:
    """A regular expression peft fully matches against module names: exactly ``names``, nothing else."""
    return "|".join(re.escape(name) for name in names)


def adapter_sites(backbone: nn.Module, family: Family, positions: Iterable[str]) -> list[tuple[nn.Module, str]]:
    """``(block, path)`` of the Linear after which an adapter goes, for each position of every block."""
    sites = []
    for block_name, block in family.blocks(backbone):
        for position in positions:
            path = family.adapter_sites[position]
            _layer(block, path, family, block_name, fused=False)
            sites.append((block, path))
    return sites
