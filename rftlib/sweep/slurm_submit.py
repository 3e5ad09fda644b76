"""Submitting a sweep to SLURM through submitit: the check of the request before anything is submitted, the
upstream pretraining jobs, the runs as one job array that depends on them, the reports job.

Everything the launcher keeps lives in ``<sweep>/slurm/`` (on the file system the compute nodes share):
``jobs.json`` (which job id holds which run: a second ``rft sweep`` submits only runs neither done nor
queued), ``submitit/`` (the job scripts, pickled tasks and logs), ``attempts/<run>.jsonl``
(``rftlib.sweep.slurm_job``) and ``upstream/<key>.failed`` (a failed pretraining's error, for its runs).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rftlib.core.atomic import atomic_write_text
from rftlib.core.errors import RftError
from rftlib.sweep.jobs import Job
from rftlib.sweep.slurm_options import SlurmOptions
from rftlib.sweep.slurm_queue import QueueUnavailable, queue, slurm_command

SLURM_DIR = "slurm"
REGISTRY = "jobs.json"
NEEDED_COMMANDS = ("sbatch", "squeue", "scancel", "scontrol", "srun")


def slurm_folder(root: Path) -> Path:
    return Path(root) / SLURM_DIR


def submitit_folder(root: Path) -> Path:
    return slurm_folder(root) / "submitit"


def attempts_file(root: Path, name: str) -> Path:
    return slurm_folder(root) / "attempts" / f"{name}.jsonl"


def upstream_error_file(root: Path, key: str) -> Path:
    return slurm_folder(root) / "upstream" / f"{hashlib.sha256(key.encode()).hexdigest()[:12]}.failed"


def upstream_weights(upstream: dict[str, Any]) -> Path:
    """The backbone file that pretraining ``upstream`` makes (``rftlib.training.upstream.pretrain``)."""
    from rftlib.training.upstream import BACKBONE_FILE, upstream_run

    return (upstream_run(**upstream)[1] / BACKBONE_FILE).resolve()  # the jobs start where the driver was


def job_log(root: Path, job_id: str) -> Path:
    """The job's standard error as submitit's scripts write it (SLURM's own lines go there too)."""
    return submitit_folder(root) / f"{job_id}_0_log.err"


@dataclass
class Registry:
    """``<sweep>/slurm/jobs.json``: the job id last submitted for each run, upstream setting and the reports."""

    path: Path
    runs: dict[str, str] = field(default_factory=dict)
    upstreams: dict[str, str] = field(default_factory=dict)
    reports: str | None = None

    @classmethod
    def load(cls, root: Path) -> "Registry":
        path = slurm_folder(root) / REGISTRY
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as error:
            raise RftError(f"cannot read {path}: {error}; delete it to forget the sweep's SLURM jobs") from None
        return cls(path, dict(data.get("runs", {})), dict(data.get("upstreams", {})), data.get("reports"))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({"runs": self.runs, "upstreams": self.upstreams,
                                                 "reports": self.reports}, indent=1, sort_keys=True) + "\n")

    def job_ids(self) -> list[str]:
        return [*self.runs.values(), *self.upstreams.values(), *([self.reports] if self.reports else [])]


# ---- the check before submission ---------------------------------------------------------------------

def check_slurm_tools() -> None:
    """submitit and SLURM's client commands are here (a login node), or one line saying what is missing."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise RftError("the slurm launcher needs submitit: pip install 'rftlib[slurm]'") from None
    missing = [name for name in NEEDED_COMMANDS if slurm_command(name) is None]
    if missing:
        raise RftError(f"the slurm launcher needs SLURM's commands ({', '.join(missing)} not on PATH); "
                       f"run rft sweep on a login node of the cluster")


def make_executor(root: Path, name: str, options: SlurmOptions, cpus: float, gpus: float, **more: Any):
    """A submitit SlurmExecutor writing under ``<root>/slurm/submitit``, with the sweep's request and ``more``
    (``dependency``, ``array_parallelism``, ...). submitit's own requeue limit is set above rftlib's
    ``max_requeues`` so that rftlib's, which counts every requeue, decides."""
    import submitit

    executor = submitit.SlurmExecutor(folder=submitit_folder(root), max_num_timeout=options.max_requeues + 1)
    executor.update_parameters(job_name=name, **options.executor_parameters(cpus, gpus), **more)
    return executor


def check_request(root: Path, name: str, options: SlurmOptions, cpus: float, gpus: float, array: int = 1) -> None:
    """Ask the controller whether it would take the sweep's job script, without submitting it
    (``sbatch --test-only``): an unknown partition, a time limit over the partition's, GPUs, memory or CPUs
    no node has, an unknown constraint, an option sbatch does not know. One RftError line."""
    more = {"array_parallelism": options.array_parallelism or array}
    executor = make_executor(root, name, options, cpus, gpus, **more)
    if array > 1:
        executor.parameters["map_count"] = array
    script = executor._make_submission_file_text("true", "check")  # submitit's own script for these jobs
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="rft-slurm-check-") as handle:
        handle.write(script)
        handle.flush()
        try:
            done = subprocess.run([slurm_command("sbatch"), "--test-only", handle.name], capture_output=True,
                                  text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise RftError("the SLURM controller did not answer sbatch --test-only within 60 s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip() and not line.startswith("Try ")]
        reason = lines[0] if lines else f"exit status {done.returncode}"
        for prefix in ("sbatch: error: ", "allocation failure: "):
            reason = reason.removeprefix(prefix)
        raise RftError(f"SLURM refuses the sweep's jobs ({describe_request(options, cpus, gpus)}): {reason}")


def describe_request(options: SlurmOptions, cpus: float, gpus: float) -> str:
    """What each run's job asks for, as one line: ``partition=gpu, timeout_min=240, cpus_per_task=8, ...``."""
    parts = {"partition": options.partition, "timeout_min": options.timeout_min, "cpus_per_task": options.cpus(cpus),
             "gpus_per_node": options.gpus(gpus), "mem_gb": options.mem_gb, "constraint": options.constraint,
             "account": options.account, "qos": options.qos}
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in parts.items()
                      if v not in (None, 0))
    extra = " ".join(f"--{k}={v}" for k, v in options.extra.items())
    return shown + (f", extra {extra}" if extra else "")


# ---- what is queued already ----------------------------------------------------------------------------

def cancel(job_id: str) -> None:
    subprocess.run([slurm_command("scancel") or "scancel", job_id], capture_output=True, timeout=60)


def live_jobs(registry: Registry) -> dict[str, str]:
    """The registry's job ids that SLURM still holds as live (pending, running, requeued), by id -> state.
    RftError when the queue cannot be read: submitting blind could queue a second copy of a run."""
    try:
        entries = queue(registry.job_ids())
    except QueueUnavailable as error:
        raise RftError(f"cannot read the SLURM queue ({error}); nothing was submitted") from None
    return {job_id: entry.state for job_id, entry in entries.items() if entry.live}


def clear_failure(job: Job) -> None:
    """Forget a run's last failure as it is submitted again: a job cancelled before it starts must not be
    reported with the reason of the attempt before it."""
    from rftlib.runs.rundir import FAILED
    from rftlib.sweep.execute import marker

    marker(job.output, "failed").unlink(missing_ok=True)
    if job.is_run:
        (job.directory / FAILED).unlink(missing_ok=True)


# ---- submission ----------------------------------------------------------------------------------------

def _submitted(submit: Callable, what: Any):
    """``submit(what)``; sbatch's refusal at submission (a QOS or association limit the test did not see, a
    full queue) as one RftError line, not submitit's traceback. What was submitted before stays recorded."""
    try:
        return submit(what)
    except Exception as error:  # noqa: BLE001 - submitit raises its own and subprocess errors
        lines = [line.strip() for line in str(error).splitlines() if "error" in line.lower()] or \
            [line.strip() for line in str(error).splitlines() if line.strip()]
        raise RftError(f"sbatch refused the submission: {lines[-1] if lines else type(error).__name__}") from None


def submit_runs(sweep, runs: Sequence[Job], options: SlurmOptions, registry: Registry,
                live: dict[str, str], log: Callable[[str], None] = print) -> list[str]:
    """Submit ``runs`` as one job array, after a pretraining job for each of their upstreams that is neither
    pretrained nor queued (the array waits for those jobs to end, ``afterany``: a run whose upstream failed
    fails with its error instead of waiting forever). Records the ids in ``registry``; the new job ids."""
    from rftlib.sweep.launch import job_env, thread_env
    from rftlib.sweep.slurm_job import RunTask, UpstreamTask
    from rftlib.sweep.upstreams import job_upstream, missing_upstreams

    root, cpus, gpus = sweep.root, sweep.resources.cpus, sweep.resources.gpus
    needed = {job_upstream(job) for job in runs} - {None}
    upstream_jobs = []
    for key, upstream in missing_upstreams(sweep.upstreams).items():
        if key not in needed:
            continue
        queued = registry.upstreams.get(key)
        if queued in live:
            upstream_jobs.append(queued)
            continue
        executor = make_executor(root, f"rft-{sweep.name}-upstream", options, cpus, 0)
        task = UpstreamTask(upstream, upstream_weights(upstream), thread_env(int(cpus)), upstream_error_file(root, key),
                            options.max_requeues)
        job = _submitted(executor.submit, task)
        registry.upstreams[key] = job.job_id
        upstream_jobs.append(job.job_id)
        log(f"submitted upstream pretraining as SLURM job {job.job_id}")
    registry.save()  # the upstream ids first: an interrupted submission still knows them
    if not runs:
        return upstream_jobs
    more: dict[str, Any] = {"array_parallelism": options.array_parallelism or len(runs)}
    if upstream_jobs:
        more["dependency"] = "afterany:" + ":".join(upstream_jobs)
    executor = make_executor(root, f"rft-{sweep.name}", options, cpus, gpus, **more)
    env = job_env(int(cpus))
    tasks = []
    for job in runs:
        clear_failure(job)
        upstream = (job.config or {}).get("upstream")
        key = job_upstream(job)
        tasks.append(RunTask(job.spec(env), attempts_file(root, job.name), options.max_requeues,
                             upstream_weights=upstream_weights(upstream) if upstream else None,
                             upstream_error=upstream_error_file(root, key) if key else None))
    submitted = _submitted(executor.submit_array, tasks)
    for job, array_job in zip(runs, submitted):
        registry.runs[job.name] = array_job.job_id
    registry.save()
    return [*upstream_jobs, *(j.job_id for j in submitted)]


def submit_reports(sweep, options: SlurmOptions, registry: Registry, after: Sequence[str]) -> str:
    """Submit the job that renders the sweep's reports and index once the jobs ``after`` have ended."""
    from rftlib.sweep.slurm_job import ReportsTask

    more = {"dependency": "afterany:" + ":".join(after)} if after else {}
    executor = make_executor(sweep.root, f"rft-{sweep.name}-reports", options, sweep.resources.cpus, 0, **more)
    job = _submitted(executor.submit, ReportsTask(sweep))
    registry.reports = job.job_id
    registry.save()
    return job.job_id


__all__ = ["REGISTRY", "Registry", "SLURM_DIR", "attempts_file", "cancel", "check_request", "check_slurm_tools",
           "clear_failure", "describe_request", "job_log", "live_jobs", "make_executor", "slurm_folder",
           "submit_reports",
           "submit_runs", "submitit_folder", "upstream_error_file"]
