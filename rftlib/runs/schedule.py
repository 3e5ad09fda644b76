"""When to evaluate during fine-tuning: an adaptive schedule, dense early and sparse late.

The study's trade-off appears within the first few hundred steps (robustness peaks near step 400 on
Caltech-256), so evaluations are dense there and sparse once accuracy has converged.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rftlib.core.errors import RftError, unknown_choice

# The released code's hand-written list (STUDY.md): 50, 100, every 30 from 120 to 300, then doubling-ish.
_RELEASED_STEPS = (50, 100, *range(120, 301, 30), 400, 600, 800, 1000, 2000, 4000, 8000, 12000, 18000, 24000, 30000)


@dataclass(frozen=True)
class EvalSchedule:
    """Evaluation steps as consecutive phases of ``(up_to, every)``.

    Phase i covers the steps after the previous phase's ``up_to`` up to and including its own
    (``None``: no end); its evaluation steps are the multiples of ``every`` inside it (``every=None``:
    none). ``extra_steps`` are added as they are. Step 0 and the last step are always evaluated.

    >>> EvalSchedule(((100, 50), (None, 1000))).steps(2500)
    [0, 50, 100, 1000, 2000, 2500]
    """

    phases: tuple[tuple[int | None, int | None], ...]
    extra_steps: tuple[int, ...] = ()
    endpoints: bool = True
    """Evaluate at step 0 and at the last step (off only for the "none" preset)."""

    def __post_init__(self):
        previous = 0
        for i, phase in enumerate(self.phases):
            if len(phase) != 2:
                raise RftError(f"schedule phase {i} must be [up_to, every], got {list(phase)!r}")
            up_to, every = phase
            if every is not None and (not isinstance(every, int) or every < 1):
                raise RftError(f"schedule phase {i}: 'every' must be a positive integer or null, got {every!r}")
            if up_to is None:
                if i != len(self.phases) - 1:
                    raise RftError(f"schedule phase {i}: only the last phase may be open-ended (up_to null)")
            elif not isinstance(up_to, int) or up_to <= previous:
                raise RftError(f"schedule phase {i}: 'up_to' must be an integer above {previous}, got {up_to!r}")
            else:
                previous = up_to
        object.__setattr__(self, "phases", tuple(tuple(p) for p in self.phases))

    PRESETS = ("paper", "released", "none")

    @classmethod
    def preset(cls, name: str) -> "EvalSchedule":
        """``"paper"``: every 50 steps up to 700, every 1000 up to 3000, every 6000 after (the paper's
        text, read as multiples). ``"released"``: the released code's list, then every 20000.
        ``"none"``: no evaluation at all (upstream pretraining, timing the loop alone)."""
        if name == "paper":
            return cls(((700, 50), (3000, 1000), (None, 6000)))
        if name == "released":
            return cls(((30000, None), (None, 20000)), extra_steps=_RELEASED_STEPS)
        if name == "none":
            return cls((), endpoints=False)
        raise unknown_choice("schedule preset", name, cls.PRESETS)

    @classmethod
    def from_spec(cls, spec: "str | Sequence[Sequence[int | None]] | EvalSchedule") -> "EvalSchedule":
        """A preset name, a list of ``[up_to, every]`` phases (as in YAML), or a schedule."""
        if isinstance(spec, EvalSchedule):
            return spec
        if isinstance(spec, str):
            return cls.preset(spec)
        if isinstance(spec, Iterable):
            phases = []
            for phase in spec:
                if not isinstance(phase, (list, tuple)):
                    raise RftError(f"a schedule is a preset name or a list of [up_to, every] phases, got {spec!r}")
                phases.append(tuple(phase))
            return cls(tuple(phases))
        raise RftError(f"a schedule is a preset name {cls.PRESETS} or a list of [up_to, every] phases, got {spec!r}")

    def steps(self, total_steps: int) -> list[int]:
        """The sorted evaluation steps of a run of ``total_steps`` optimiser steps."""
        if not isinstance(total_steps, int) or total_steps < 0:
            raise RftError(f"total_steps must be a non-negative integer, got {total_steps!r}")
        chosen = {0, total_steps} if self.endpoints else set()
        start = 0
        for up_to, every in self.phases:
            end = total_steps if up_to is None else min(up_to, total_steps)
            if every is not None:
                first = (start // every + 1) * every  # first multiple strictly after the phase start
                chosen.update(range(first, end + 1, every))
            if up_to is None or up_to >= total_steps:
                break
            start = up_to
        chosen.update(s for s in self.extra_steps if 0 <= s <= total_steps)
        return sorted(chosen)
