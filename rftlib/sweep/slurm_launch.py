"""``rft sweep --launcher slurm``: check, submit what is missing, then wait (or not).

The order: every value and the cluster's answer to the request are checked first (``check_slurm``: nothing
is submitted for a sweep that cannot run); the runs neither done nor queued are submitted as one job array
(after their upstreams' pretraining jobs); then the driver waits, showing progress, and yields each run's
outcome as it ends (``slurm_status.wait_for_runs``), or, with ``--no-wait``, submits a job that renders the
reports once the runs have ended and returns. A run pending or running already is never submitted twice,
and waiting again attaches to it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from rftlib.sweep.slurm_options import SlurmOptions
from rftlib.sweep.slurm_queue import base_id
from rftlib.sweep.slurm_status import wait_for_runs
from rftlib.sweep.slurm_submit import (Registry, cancel, check_request, check_slurm_tools,
                                       live_jobs, submit_reports, submit_runs)
from rftlib.sweep.slurm_submit import describe_request as _describe


def describe_request(sweep) -> str:
    """The sweep's request per run, one line (``--dry-run``)."""
    return _describe(sweep.slurm, sweep.resources.cpus, sweep.resources.gpus)


def check_slurm(sweep, options: SlurmOptions, runs: int) -> None:
    """Everything about the SLURM request that can fail, before anything is submitted."""
    check_slurm_tools()
    check_request(sweep.root, f"rft-{sweep.name}", options, sweep.resources.cpus, sweep.resources.gpus,
                  array=max(1, runs))


def launch_slurm(sweep, todo: list, options: SlurmOptions, wait: bool = True, progress: bool = True,
                 log: Callable[[str], None] = print) -> Iterator[dict[str, Any]] | None:
    """Submit ``todo`` (the runs not done) except those queued already; with ``wait`` the outcomes of all of
    ``todo`` as they end, else None once the reports' job is submitted too."""
    registry = Registry.load(sweep.root)
    live = live_jobs(registry)
    queued = [job for job in todo if registry.runs.get(job.name) in live]
    elsewhere = [job for job in todo if job not in queued and job.status() == "running"]  # a local sweep's
    missing = [job for job in todo if job not in queued and job not in elsewhere]
    if queued:
        log(f"{len(queued)} runs already queued in SLURM: not submitted again")
    if elsewhere:
        log(f"{len(elsewhere)} runs are running outside SLURM (their directories are locked): not submitted")
    submitted = submit_runs(sweep, missing, options, registry, live, log=log) if missing else []
    if missing:
        log(f"submitted {len(missing)} runs as SLURM job {_array_id(registry, missing)}")
    if not wait:
        _submit_reports(sweep, options, registry, live, submitted, log)
        return None
    if registry.reports in live:  # this driver renders the reports: a reports job left by --no-wait must not too
        cancel(registry.reports)
        log(f"cancelled the reports job {registry.reports}: this rft sweep renders the reports once the runs end")
    return wait_for_runs(sweep, [*queued, *missing], registry, progress=progress)


def tracking_note(sweep) -> str:
    """Where a detached sweep's runs get into MLflow: the reports job mirrors them once they have ended, from a
    compute node; a sqlite store must be on a file system the nodes share, else `rft track` mirrors them later."""
    from rftlib.runs.tracking_options import store_uri

    uri = store_uri(sweep.tracking.uri)
    where = (" (a sqlite file: it must be on a file system the compute nodes share)" if uri.startswith("sqlite")
             else "")
    return (f"tracking: the reports job mirrors the runs into MLflow at {uri}{where} once they have ended; "
            f"or, after they end, `rft track {sweep.root}`")


def _submit_reports(sweep, options: SlurmOptions, registry: Registry, live: dict[str, str], submitted: list[str],
                    log: Callable[[str], None]) -> None:
    """One reports job, after every job of the sweep in the queue: a reports job still waiting is kept when
    nothing new was submitted, and replaced (cancelled) when the runs it waits for are not all of them."""
    if not sweep.reports:
        return
    waiting = registry.reports in live
    if waiting and not submitted:
        log(f"reports: SLURM job {registry.reports} renders them once the runs have ended")
        return
    if waiting:
        cancel(registry.reports)
    # Whole arrays (`afterany:12` waits for every task of array 12): the dependency stays one short line.
    after = sorted({base_id(job) for job in [*submitted, *live] if job != registry.reports})
    log(f"reports: SLURM job {submit_reports(sweep, options, registry, after)} renders them once the runs have ended")


def _array_id(registry: Registry, runs: list) -> str:
    ids = sorted({registry.runs[job.name].split("_")[0] for job in runs})
    return ", ".join(ids)


__all__ = ["check_slurm", "describe_request", "launch_slurm", "tracking_note"]
