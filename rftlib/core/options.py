"""Build documented dataclass configurations from user overrides, with type checks.

Used by the strategies (``apply_strategy(model, "lora", r=4)``), the run configuration and the sweeps,
so an unknown key or a wrong type gets the same one-line error everywhere.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from rftlib.core.errors import RftError, closest
from rftlib.core.validation import integer_hint

D = TypeVar("D")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, what: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it, converted where the conversion is
    lossless (an int where a float is expected, a list where a tuple is). Raise RftError otherwise."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return coerce(value, arg, what)
            except RftError:
                continue
        hint = integer_hint(value) if int in args else ""
        raise RftError(f"{what} must be {' or '.join(_type_name(a) for a in args)}, got {value!r}{hint}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise RftError(f"{what} must be one of {', '.join(repr(a) for a in args)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise RftError(f"{what} must be None, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise RftError(f"{what} must be a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], what) for v in value)
        if origin is tuple and args:
            if len(args) != len(value):
                raise RftError(f"{what} must have {len(args)} items, got {value!r}")
            return tuple(coerce(v, a, what) for v, a in zip(value, args))
        item = args[0] if args else Any
        return origin(coerce(v, item, what) for v in value)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise RftError(f"{what} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise RftError(f"{what} must be true or false, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise RftError(f"{what} must be a number, got {value!r}")
    if tp is int:
        # Integers only: a float, even 64.0 or 1e4, is refused rather than rounded, as every other
        # integer check of rftlib (attack steps, AutoAttack size, ...) refuses it.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RftError(f"{what} must be an integer, got {value!r}{integer_hint(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise RftError(f"{what} must be a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise RftError(f"{what} must be {_type_name(tp)}, got {value!r}")


# What other tools call some of rftlib's keys: "did you mean 'lr'?" for learning_rate (or a typo of it)
# where "lr" is a valid key, though the spellings are far apart.
OTHER_NAMES = {"learning_rate": "lr", "learningrate": "lr", "wd": "weight_decay", "num_epochs": "epochs",
               "n_epochs": "epochs", "epoch": "epochs", "steps": "max_steps", "num_steps": "max_steps",
               "total_steps": "max_steps", "bs": "batch_size", "warmup": "warmup_steps", "num_warmup_steps":
               "warmup_steps", "scheduler": "lr_schedule", "lr_scheduler": "lr_schedule", "model_name": "model",
               "arch": "model", "rank": "r", "lora_r": "r", "lora_alpha": "alpha", "lora_dropout": "dropout"}


def closest_key(key: str, valid: list[str]) -> str | None:
    """The valid key nearest to ``key`` by spelling, counting the names other tools use (OTHER_NAMES)."""
    aliases = {other: name for other, name in OTHER_NAMES.items() if name in valid}
    match = closest(key, [*valid, *aliases])
    return aliases.get(match, match) if match is not None else None


def check_keys(given: Mapping[str, Any], valid: list[str], where: str) -> None:
    """Raise RftError naming the first key of ``given`` not in ``valid``, with the closest valid one."""
    for key in given:
        if key not in valid:
            hint = closest_key(str(key), valid)
            did_you_mean = f" (did you mean {hint!r}?)" if hint else ""
            raise RftError(f"unknown {where} {key!r}{did_you_mean}; valid: {', '.join(sorted(set(valid)))}")


def build_dataclass(cls: type[D], overrides: Mapping[str, Any], where: str) -> D:
    """Instantiate dataclass ``cls`` from its defaults updated by ``overrides``.

    ``where`` names the thing in errors, e.g. "lora option" -> "unknown lora option 'rank' (did you
    mean 'r'?); valid: alpha, dropout, r, targets".
    """
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    check_keys(overrides, list(fields), where)
    hints = typing.get_type_hints(cls)
    values = {k: coerce(v, hints[k], f"{where} {k!r}") for k, v in overrides.items()}
    return cls(**values)
