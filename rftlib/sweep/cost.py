"""The expected cost of a sweep's runs, for ``rft sweep --dry-run``.

Hook: ``rftlib.bench`` may define ``estimate_run_seconds(config: dict) -> float | None``, the expected
wall time of one fine-tuning run (its resolved configuration, as ``Job.config``) on this machine from
measured throughput. Until it does, or when it cannot tell, the estimate is None and the dry run
says so.
"""
from __future__ import annotations

import importlib
from collections.abc import Sequence

from rftlib.sweep.jobs import Job


def estimate_seconds(runs: Sequence[Job]) -> float | None:
    """The summed expected seconds of ``runs`` (one job at a time), or None when unknown."""
    try:
        estimator = importlib.import_module("rftlib.bench").estimate_run_seconds
    except (ImportError, AttributeError):
        return None
    total = 0.0
    for run in runs:
        seconds = estimator(run.config) if run.config is not None else None
        if seconds is None:
            return None
        total += seconds
    return total


def describe_cost(runs: Sequence[Job], jobs: int = 1) -> str:
    """One line: the estimate for ``runs`` spread over ``jobs`` parallel jobs, or why there is none."""
    seconds = estimate_seconds(runs)
    if seconds is None:
        return "estimated cost: unknown (rftlib.bench has no throughput figures for these runs)"
    return f"estimated cost: {seconds / 3600:.2f} h of compute, ~{seconds / max(1, jobs) / 3600:.2f} h wall with {jobs} job(s)"
