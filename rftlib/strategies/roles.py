"""The names strategies place themselves by, and the checks of the options that name them, without torch.

The paper places its strategies by *role* inside a ViT block (:mod:`rftlib.strategies.families` maps
each family's layers to these roles); the options dataclasses (:mod:`rftlib.strategies.config`) check
their values here, so a configuration is refused before torch loads.
"""
from __future__ import annotations

from collections.abc import Iterable

from rftlib.core.errors import RftError, closest

#: The paper's roles, named after the ViT layers that play them.
ROLES: tuple[str, ...] = ("q", "k", "v", "proj", "fc1", "fc2")
#: Adapter positions: after the attention output ("attn") and after the MLP ("mlp").
POSITIONS: tuple[str, ...] = ("attn", "mlp")


def check_roles(targets: Iterable[str], strategy: str) -> tuple[str, ...]:
    """Validate target roles: non-empty, known, no repeats."""
    targets = tuple(targets)
    if not targets:
        raise RftError(f"{strategy} option 'targets' is empty; choose from {', '.join(ROLES)}")
    for target in targets:
        if target not in ROLES:
            hint = closest(target, ROLES)
            did_you_mean = f" (did you mean {hint!r}?)" if hint else ""
            raise RftError(f"unknown {strategy} target {target!r}{did_you_mean}; valid: {', '.join(ROLES)}")
    if len(set(targets)) != len(targets):
        raise RftError(f"{strategy} option 'targets' repeats a name: {', '.join(targets)}")
    return targets


def check_positions(positions: tuple[str, ...], strategy: str) -> tuple[str, ...]:
    """Validate adapter positions ("attn", "mlp"): non-empty, known, no repeats."""
    if not positions:
        raise RftError(f"{strategy} option 'positions' is empty; choose from {', '.join(POSITIONS)}")
    for position in positions:
        if position not in POSITIONS:
            raise RftError(f"unknown {strategy} position {position!r}; valid: {', '.join(POSITIONS)}")
    if len(set(positions)) != len(positions):
        raise RftError(f"{strategy} option 'positions' repeats a name: {', '.join(positions)}")
    return positions


def check_width(value: int | None, name: str, strategy: str) -> None:
    if value is not None and value < 1:
        raise RftError(f"{strategy} option {name!r} must be a positive integer, got {value}")


__all__ = ["POSITIONS", "ROLES", "check_positions", "check_roles", "check_width"]
