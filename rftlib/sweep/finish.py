"""After a sweep's runs have ended: the task complexity measures, the aggregate reports and the index page,
by the sweep's driver (``runner.run_sweep``) or by the SLURM job that waits for the runs (``--no-wait``)."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rftlib.core.progress import progress_bar
from rftlib.sweep.index import write_index
from rftlib.tracking.sweep import publish_reports
from rftlib.sweep.jobs import Job
from rftlib.sweep.launch import run_local
from rftlib.sweep.spec import Sweep


@dataclass
class SweepResult:
    """What one invocation did: the outcomes of the runs and reports it executed, the runs it skipped."""

    skipped: list[Job]
    runs: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    index: Path | None = None
    detached: bool = False  # submitted to SLURM without waiting: runs and reports go on there

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [o for o in self.runs + self.reports if o["status"] != "done"]


def drain(outcomes: Iterator[dict[str, Any]], total: int, desc: str, unit: str, progress: bool
          ) -> list[dict[str, Any]]:
    """Collect the outcomes under a progress bar, printing each failure as it happens."""
    collected = []
    with progress_bar(total=total, desc=desc, unit=unit, disable=not progress, file=sys.stderr) as bar:
        for outcome in outcomes:
            collected.append(outcome)
            if outcome["status"] != "done":
                bar.write(f"failed: {outcome['name']}: {outcome['error']}", file=sys.stderr)
            bar.update(1)
    return collected


def finish_sweep(sweep: Sweep, jobs: int = 1, progress: bool = True, log: Callable[[str], None] = print,
                 result: SweepResult | None = None) -> SweepResult:
    """Once the runs have ended: the task complexity measures, the reports (``jobs`` at a time) and the
    index page; by the sweep's driver, or by the SLURM job that waits for the runs (``--no-wait``)."""
    result = result or SweepResult(skipped=[])
    from rftlib.analysis.complexity.cache import measure_sweep  # torch: only when a sweep runs

    measure_sweep(sweep, log=log)  # task complexity, once per task, cached beside the runs for the reports
    if sweep.reports:
        result.reports = drain(run_local(sweep.reports, jobs), len(sweep.reports), f"{sweep.name} reports", "report",
                               progress)
    result.index = publish_reports(sweep, write_index)  # the index, and the reports in the sweep's MLflow run
    return result


__all__ = ["SweepResult", "drain", "finish_sweep"]
