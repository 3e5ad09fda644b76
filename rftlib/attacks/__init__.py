"""Adversarial attacks used to measure robustness, looked up by name.

``make_attack("pgd", model, eps=8/255)`` builds one from the registry; unknown names and options fail
with an RftError listing the valid ones.
"""
from __future__ import annotations

import inspect
import re
from typing import Any

from torch import nn

from ..errors import RftError
from ..options import check_keys
from ..registry import Registry
from .pgd import PGD

ATTACKS: Registry[type] = Registry("attack")
ATTACKS.add("pgd", PGD)


def attack_options(name: str) -> list[str]:
    """The options the attack registered as ``name`` takes (its constructor's arguments but the model)."""
    return [p for p in inspect.signature(ATTACKS.get(name)).parameters if p != "model"]


def accepts_option(name: str, option: str) -> bool:
    return option in attack_options(name)


def make_attack(name: str, model: nn.Module, **options: Any):
    """The attack registered as ``name`` on ``model``, with ``options`` overriding its defaults."""
    check_keys(options, attack_options(name), f"{name} option")
    return ATTACKS.get(name)(model, **options)


def check_attack_spec(spec: Any, where: str = "attack") -> None:
    """Check an attack entry of a run configuration, ``{name, label?, **options}``, without a model:
    the name is registered, the options are the attack's own and the label a plain identifier.
    Raises RftError naming the valid choices."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise RftError(f"each {where} is a mapping with a 'name' (one of {', '.join(ATTACKS.names())}), got {spec!r}")
    name = spec["name"]
    ATTACKS.get(name)
    options = {k: v for k, v in spec.items() if k not in ("name", "label")}
    check_keys(options, [o for o in attack_options(name) if o != "autocast_dtype"], f"{name} option")
    label = spec.get("label", name)
    if not isinstance(label, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", label):
        raise RftError(f"{where} label must be lower-case letters, digits and '_' (a record column suffix), "
                       f"got {label!r}")


__all__ = ["ATTACKS", "PGD", "make_attack", "attack_options", "accepts_option", "check_attack_spec"]
