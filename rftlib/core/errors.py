"""One error type for bad input, so the CLI and notebooks can show a single clear line.

Every message names what was wrong and, where there is a finite set of valid choices, lists them
(and the closest one, when the input looks like a typo).
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class RftError(ValueError):
    """Bad input to rftlib: an unknown name, a wrong type, a missing file. The message is one line."""


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The valid choice nearest to ``value`` by spelling, or None when nothing is close."""
    matches = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_choice(kind: str, value: object, choices: Iterable[str]) -> RftError:
    """An error for ``value`` not being one of ``choices``: "unknown strategy 'lorra' (did you mean
    'lora'?); valid: adapter, bitfit, ..."."""
    choices = sorted({str(c) for c in choices})
    hint = closest(str(value), choices)
    did_you_mean = f" (did you mean {hint!r}?)" if hint else ""
    return RftError(f"unknown {kind} {value!r}{did_you_mean}; valid: {', '.join(choices)}")
