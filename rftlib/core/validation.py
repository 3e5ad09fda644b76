"""Value checks for configurations: each bad value is one RftError line naming the field and the range.

``RunConfig.validated()`` is the one place a run's values are checked; ``rftlib.finetune`` (``rft run``),
the sweep expansion (``rft sweep``) and ``rft sweep --dry-run`` all go through it, before anything
is loaded or written. Types are checked earlier, by ``rftlib.core.options.build_dataclass``; these
helpers check ranges. A new field gets its check by a line in ``RunConfig.validated()``, e.g.
``number("label_smoothing", self.label_smoothing, low=0, high=1, high_open=True)``. What the values
point at (the timm model, the weights file, the dataset's options) is checked by ``rftlib.runs.preflight``.

Integer fields take integers only: 64.0 (or 1e4, a float in YAML) is refused with the integer to
write, never rounded, in every integer field (top-level, strategy, dataset and attack options).
"""
from __future__ import annotations

import math

from rftlib.core.errors import RftError


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"> {low:g}" if low_open else f">= {low:g}"
    if low is None:
        return f"< {high:g}" if high_open else f"<= {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def number(name: str, value: float | None, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, optional: bool = False) -> None:
    """RftError unless ``value`` is a finite number in the interval (None passes when ``optional``).

    ``number("lr", lr, low=0, low_open=True)`` -> "lr must be a finite number > 0, got 0.0".
    """
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        bounds = " " + _interval(low, high, low_open, high_open) if (low, high) != (None, None) else ""
        raise RftError(f"{name} must be a finite number{bounds}, got {value!r}")


def integer(name: str, value: int | None, *, low: int, optional: bool = False) -> None:
    """RftError unless ``value`` is an integer >= ``low`` (None passes when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RftError(f"{name} must be an integer >= {low}, got {value!r}{integer_hint(value)}")


def integer_hint(value: object) -> str:
    """For 64.0 or 1e4 where an integer is expected: how to write it. rftlib takes integers only
    there, never a float rounded (YAML reads 1e4 as a float, so a typed 1e4 is said, not guessed)."""
    if isinstance(value, float) and value.is_integer():
        return f" (integer fields take integers only: write {int(value)})"
    return ""
