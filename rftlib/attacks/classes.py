"""The attack classes by registered name, and :func:`make_attack`. Their settings (names, defaults,
checks) are registered torch-free in :mod:`rftlib.attacks.settings` under the same names."""
from __future__ import annotations

from typing import Any

from torch import nn

from rftlib.core.options import check_keys
from rftlib.core.registry import Registry
from rftlib.attacks.apgd import APGD, APGDT
from rftlib.attacks.apgd_ce_t import APGDCEAndT
from rftlib.attacks.autoattack import AutoAttack
from rftlib.attacks.pgd import PGD
from rftlib.attacks.settings import ATTACK_SETTINGS, attack_options

ATTACKS: Registry[type] = Registry("attack")
ATTACKS.add("pgd", PGD)
ATTACKS.add("apgd", APGD)
ATTACKS.add("apgd_t", APGDT)
ATTACKS.add("apgd_ce_t", APGDCEAndT)
ATTACKS.add("autoattack", AutoAttack)
assert ATTACKS.names() == ATTACK_SETTINGS.names(), "rftlib.attacks: classes and settings registered apart"


def make_attack(name: str, model: nn.Module, **options: Any):
    """The attack registered as ``name`` on ``model``, with ``options`` overriding its defaults."""
    check_keys(options, attack_options(name), f"{name} option")
    return ATTACKS.get(name)(model, **options)


__all__ = ["ATTACKS", "make_attack"]
