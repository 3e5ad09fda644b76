"""Adversarial attacks used to measure robustness, looked up by name.

``make_attack("pgd", model, eps=8/255)`` builds one from the registry; unknown names and options fail
with an RftError listing the valid ones.
"""
from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from ..options import check_keys
from ..registry import Registry
from .pgd import PGD

ATTACKS: Registry[type] = Registry("attack")
ATTACKS.add("pgd", PGD)


def make_attack(name: str, model: nn.Module, **options: Any):
    """The attack registered as ``name`` on ``model``, with ``options`` overriding its defaults."""
    cls = ATTACKS.get(name)
    valid = [p for p in inspect.signature(cls).parameters if p != "model"]
    check_keys(options, valid, f"{name} option")
    return cls(model, **options)


__all__ = ["ATTACKS", "PGD", "make_attack"]
