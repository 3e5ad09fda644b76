"""Run a sweep: the runs not yet done, then the aggregate reports, then the index page."""
from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rftlib.core.progress import progress_bar
from rftlib.runs.rundir import make_run_dir
from rftlib.tracking.sweep import sweep_mirror
from rftlib.sweep.index import write_index
from rftlib.sweep.jobs import Job
from rftlib.sweep.launch import check_kernel, check_launch, failed, run_local, run_ray, thread_env
from rftlib.sweep.spec import Sweep
from rftlib.sweep.upstreams import job_upstream, missing_upstreams, pretrain_in_worker, upstream_failure


@dataclass
class SweepResult:
    """What one invocation did: the outcomes of the runs and reports it executed, the runs it skipped."""

    skipped: list[Job]
    runs: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    index: Path | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [o for o in self.runs + self.reports if o["status"] != "done"]


def _drain(outcomes: Iterator[dict[str, Any]], total: int, desc: str, unit: str, progress: bool
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


def run_sweep(sweep: Sweep, launcher: str = "local", jobs: int = 1, address: str | None = None,
              progress: bool = True, log: Callable[[str], None] = print) -> SweepResult:
    """Execute the runs of ``sweep`` that are not done (``launcher`` local: ``jobs`` at a time; ray: one
    task each, on the cluster at ``address`` or a new local one), then its reports, locally."""
    check_launch(launcher, jobs, address)
    for kernel in {job.kernel for job in [*sweep.runs, *sweep.reports]}:
        check_kernel(kernel)
    make_run_dir(sweep.root, "sweep output directory")  # one line, before any run, when it cannot be made
    todo = [job for job in sweep.runs if job.status() != "done"]
    result = SweepResult(skipped=[job for job in sweep.runs if job not in todo])
    if result.skipped:
        log(f"{len(result.skipped)} of {len(sweep.runs)} runs already done: skipped")
    mirror = sweep_mirror(sweep.tracking, sweep.name, sweep.runs)  # also brings runs done before into MLflow
    if mirror is not None:
        log(f"tracking: MLflow at {mirror.uri}, experiment {mirror.experiment!r} (`rft ui` shows it)")
        mirror.start()
    try:
        if todo:
            launched = _launch(todo, sweep, launcher, jobs, address, log)
            if mirror is not None:
                launched = mirror.follow(launched)
            result.runs = _drain(launched, len(todo), f"{sweep.name} runs", "run", progress)
    finally:
        if mirror is not None:
            mirror.close()
    from rftlib.analysis.complexity.cache import measure_sweep  # torch: only when a sweep runs

    measure_sweep(sweep, log=log)  # task complexity, once per task, cached beside the runs for the reports
    if sweep.reports:
        result.reports = _drain(run_local(sweep.reports, jobs), len(sweep.reports), f"{sweep.name} reports", "report",
                                progress)
    result.index = write_index(sweep)
    return result


def _launch(todo: list[Job], sweep: Sweep, launcher: str, jobs: int, address: str | None,
            log: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """The outcomes of ``todo``'s runs. Their upstream backbones are pretrained once here rather than
    by every run at the same time (they would race on the cache): beside the runs on the local
    launcher, before them on Ray (whose tasks find them on the shared disk)."""
    threads = int(sweep.resources.cpus)
    upstreams = missing_upstreams(sweep.upstreams)
    if upstreams:
        log(f"pretraining {len(upstreams)} upstream backbone(s) under outputs/upstream/, "
            f"{'beside' if launcher == 'local' else 'before'} the runs")
    if launcher == "local":
        return run_local(todo, jobs, threads=threads, upstreams=upstreams)
    errors = {key: pretrain_in_worker(options, thread_env(threads))[1] for key, options in upstreams.items()}
    lost = [job for job in todo if errors.get(job_upstream(job))]
    refused = (failed(job, upstream_failure(errors[job_upstream(job)])) for job in lost)
    return itertools.chain(refused, run_ray([job for job in todo if job not in lost], sweep.resources, address))


def describe(jobs: Sequence[Job]) -> list[str]:
    """One line per job: its status, name and readable parameters (``--dry-run``)."""
    return [f"  {job.status():8} {job.name}  " + " ".join(f"{k}={v}" for k, v in job.summary.items())
            for job in jobs]
