"""The ``final_autoattack`` setting of a run (``RunConfig.final_autoattack``): its default size and its
check, without data or model. The attack itself runs in :mod:`rftlib.training.final_autoattack`; the
check lives here, beside the attacks it checks, so that validating a configuration never imports the
training package (``rftlib.runs.config`` sits below it)."""
from __future__ import annotations

from typing import Any

from rftlib.core.errors import RftError
from rftlib.attacks.settings import check_attack_spec

DEFAULT_SIZE = 500  # points AutoAttack attacks at the end of a run


def check_final_autoattack(spec: Any, num_classes: int | None = None) -> None:
    """One-line RftError for a bad ``final_autoattack`` setting (checked without data or model)."""
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise RftError(f"final_autoattack must be a mapping like {{size: {DEFAULT_SIZE}}} or null (off), got {spec!r}")
    size = spec.get("size", DEFAULT_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise RftError(f"final_autoattack size must be a positive integer (points attacked), got {size!r}")
    options = {k: v for k, v in spec.items() if k != "size"}
    check_attack_spec({"name": "autoattack", **options}, "final_autoattack", num_classes=num_classes)


__all__ = ["DEFAULT_SIZE", "check_final_autoattack"]
