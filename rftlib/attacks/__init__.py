"""Adversarial attacks used to measure robustness, looked up by name.

``make_attack("pgd", model, eps=8/255)`` builds one from the registry; unknown names and options fail
with an RftError listing the valid ones. :func:`check_attack_spec` checks a configuration entry
``{name, label?, **options}`` without a model, so a run configuration is refused before any data or
model loads.

==========  ==============================================================  ===================
name        attack                                                          class
==========  ==============================================================  ===================
pgd         PGD-k, cross-entropy (Madry et al. 2018; the paper's measure)   :class:`PGD`
apgd        Auto-PGD, loss "ce" or "dlr" (Croce & Hein 2020)                :class:`APGD`
apgd_t      targeted Auto-PGD over the top-k other classes                  :class:`APGDT`
apgd_ce_t   APGD-CE, then APGD-T on the points left: fast, *not* AutoAttack  :class:`APGDCEAndT`
autoattack  standard AutoAttack through the authors' code (pyautoattack)     :class:`AutoAttack`
==========  ==============================================================  ===================
"""
from __future__ import annotations

import inspect
import re
from typing import Any

from torch import nn

from ..errors import RftError
from ..options import check_keys
from ..registry import Registry
from .apgd import APGD, APGDT
from .apgd_ce_t import APGDCEAndT
from .autoattack import AutoAttack
from .base import AttackOutcome, frozen_eval
from .pgd import PGD

ATTACKS: Registry[type] = Registry("attack")
ATTACKS.add("pgd", PGD)
ATTACKS.add("apgd", APGD)
ATTACKS.add("apgd_t", APGDT)
ATTACKS.add("apgd_ce_t", APGDCEAndT)
ATTACKS.add("autoattack", AutoAttack)


def attack_options(name: str) -> list[str]:
    """The options the attack registered as ``name`` takes (its constructor's arguments but the model)."""
    return [p for p in inspect.signature(ATTACKS.get(name)).parameters if p != "model"]


def accepts_option(name: str, option: str) -> bool:
    return option in attack_options(name)


def make_attack(name: str, model: nn.Module, **options: Any):
    """The attack registered as ``name`` on ``model``, with ``options`` overriding its defaults."""
    check_keys(options, attack_options(name), f"{name} option")
    return ATTACKS.get(name)(model, **options)


def check_attack_spec(spec: Any, where: str = "attack", num_classes: int | None = None) -> None:
    """Check an attack entry of a run configuration, ``{name, label?, **options}``, without a model:
    the name is registered, the options are the attack's own with values in range, an optional
    package it needs is installed (else the install command), the label is a plain identifier and,
    when ``num_classes`` is given, the classes allow the settings (at most classes - 1 targets, enough
    classes for the DLR losses). Raises a one-line RftError naming the valid choices."""
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
    # Building the attack on a placeholder module runs exactly the value checks a real run would, and
    # nothing else: the constructors only store and check their options.
    attack = make_attack(name, nn.Identity(), **options)
    if num_classes is not None and hasattr(attack, "check_classes"):
        attack.check_classes(num_classes)


__all__ = ["APGD", "APGDCEAndT", "APGDT", "ATTACKS", "AttackOutcome", "AutoAttack", "PGD", "accepts_option",
           "attack_options", "check_attack_spec", "frozen_eval", "make_attack"]
