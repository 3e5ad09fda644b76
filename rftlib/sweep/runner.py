"""Run a sweep: the runs not yet done, then the aggregate reports, then the index page (``finish``)."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rftlib.runs.rundir import make_run_dir
from rftlib.tracking.links import viewer_hint
from rftlib.tracking.sweep import sweep_mirror
from rftlib.sweep.finish import SweepResult, drain, finish_sweep
from rftlib.sweep.jobs import Job
from rftlib.sweep.launch import check_kernel, check_launch, failed, run_local, run_ray, thread_env
from rftlib.sweep.spec import Sweep
from rftlib.sweep.upstreams import job_upstream, missing_upstreams, pretrain_in_worker, upstream_failure


def run_sweep(sweep: Sweep, launcher: str = "local", jobs: int = 1, address: str | None = None,
              progress: bool = True, log: Callable[[str], None] = print, wait: bool = True) -> SweepResult:
    """Execute the runs of ``sweep`` that are not done (``launcher`` local: ``jobs`` at a time; ray: one
    task each, on the cluster at ``address`` or a new local one; slurm: one job array, with the sweep's
    ``slurm`` request), then its reports, locally. With slurm and not ``wait``: submit, and leave the reports
    to a job that runs once the runs have ended (``SweepResult.detached``)."""
    check_launch(launcher, jobs, address)
    for kernel in {job.kernel for job in [*sweep.runs, *sweep.reports]}:
        check_kernel(kernel)
    make_run_dir(sweep.root, "sweep output directory")  # one line, before any run, when it cannot be made
    todo = [job for job in sweep.runs if job.status() != "done"]
    if launcher == "slurm":
        from rftlib.sweep.slurm_launch import check_slurm

        check_slurm(sweep, sweep.slurm, len(todo))  # the cluster's word on the request, before any submission
    result = SweepResult(skipped=[job for job in sweep.runs if job not in todo])
    if result.skipped:
        log(f"{len(result.skipped)} of {len(sweep.runs)} runs already done: skipped")
    if launcher == "slurm" and not wait:
        from rftlib.sweep.slurm_launch import launch_slurm, tracking_note

        launch_slurm(sweep, todo, sweep.slurm, wait=False, log=log)
        if sweep.tracking is not None:
            log(tracking_note(sweep))
        result.detached = True
        return result
    mirror = sweep_mirror(sweep.tracking, sweep.name, sweep.runs)  # also brings runs done before into MLflow
    if mirror is not None:
        log(f"tracking: MLflow at {mirror.uri}, experiment {mirror.experiment!r} ({viewer_hint(mirror.uri)})")
        mirror.start()
    try:
        if todo or launcher == "slurm":  # slurm with every run done: still withdraw a reports job left queued
            launched = _launch(todo, sweep, launcher, jobs, address, log, progress)
            if mirror is not None:
                launched = mirror.follow(launched)
            # SLURM's progress is its own line of counts (pending, running, requeued, ...), not a bar.
            result.runs = drain(launched, len(todo), f"{sweep.name} runs", "run", progress and launcher != "slurm")
    finally:
        if mirror is not None:
            mirror.close()
    return finish_sweep(sweep, jobs, progress, log, result)


def _launch(todo: list[Job], sweep: Sweep, launcher: str, jobs: int, address: str | None,
            log: Callable[[str], None], progress: bool = True) -> Iterator[dict[str, Any]]:
    """The outcomes of ``todo``'s runs. Their upstream backbones are pretrained once here rather than
    by every run at the same time (they would race on the cache): beside the runs on the local
    launcher, before them on Ray (whose tasks find them on the shared disk), as jobs the runs' job array
    waits for on SLURM."""
    if launcher == "slurm":
        from rftlib.sweep.slurm_launch import launch_slurm

        return launch_slurm(sweep, todo, sweep.slurm, wait=True, progress=progress, log=log)
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
