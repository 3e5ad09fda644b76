"""What runs inside a sweep's SLURM jobs: one run's notebook (an array task), an upstream pretraining, the
reports. submitit unpickles one of these tasks on the compute node and calls it.

Each task runs its work in a worker process (``python -m rftlib.sweep.execute``, as the local launcher does)
and only watches it. SLURM signals every process of a job step; the worker and the notebook's kernel ignore
SIGUSR2 (set before they start, inherited), so only this process acts on it: submitit calls ``checkpoint``,
which kills the worker and its kernel at once and hands submitit the same task to requeue. Nothing is lost
by the kill: a run writes records, outcomes and checkpoints atomically, the checkpoint last, and resumes
from it with records identical to an uninterrupted run's (``rftlib.training.loop``). A plain ``scontrol
requeue`` or ``scancel`` (SIGTERM to every process, then SIGKILL) ends the worker the same way.

Every start and end of a run's job is a line of ``<sweep>/slurm/attempts/<run>.jsonl`` (job id, node, GPUs,
restarts, what happened); a run started more than ``max_requeues`` + 1 times is failed with that reason.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STOP_SIGNAL = signal.SIGUSR2  # submitit's: sent before the time limit, on preemption, by scancel --signal


def restart_count() -> int:
    """How many times SLURM has requeued this job ($SLURM_RESTART_COUNT; 0 outside a requeued job)."""
    value = os.environ.get("SLURM_RESTART_COUNT", "")
    return int(value) if value.isdigit() else 0


def current_job_id() -> str:
    """This job's id as squeue lists it: ``12_3`` for an array task, else ``12``."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "")


def _ignore_stop_signal() -> None:  # in the worker, between fork and exec (this process has no threads)
    signal.signal(STOP_SIGNAL, signal.SIG_IGN)


def stop_tree(process: subprocess.Popen | None) -> None:
    """SIGKILL ``process`` and every process below it (the kernel lives in a session of its own), then
    reap them: nothing of the attempt is left writing when the next one starts."""
    if process is None or process.poll() is not None:
        return
    import psutil

    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    for proc in [*tree]:
        try:
            proc.kill()
        except psutil.Error:
            pass
    process.kill()
    process.wait()
    psutil.wait_procs(tree, timeout=10)


class WorkerTask:
    """A task that runs one worker process and is requeued, not failed, when SLURM asks it to stop.

    ``attempts``: the file of this task's attempt lines (None: none kept). ``max_requeues``: the requeues
    allowed before the task fails for good."""

    def __init__(self, attempts: Path | None, max_requeues: int):
        self.attempts = Path(attempts) if attempts is not None else None
        self.max_requeues = max_requeues
        self._worker: subprocess.Popen | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_worker"}  # a process does not travel

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _worker=None)

    def note(self, event: str, **details: Any) -> None:
        """Append one attempt line (never fails the task: a full disk shows elsewhere)."""
        if self.attempts is None:
            return
        line = {"event": event, "job": current_job_id(), "restarts": restart_count(), "host": socket.gethostname(),
                "time": round(time.time(), 1), **details}
        try:
            self.attempts.parent.mkdir(parents=True, exist_ok=True)
            with self.attempts.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
        except OSError:
            pass

    def run_worker(self, module: str, argument: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        """``python -m <module> <argument> <this PID>`` with ``env`` added, SIGUSR2 ignored, and wait for it."""
        self._worker = subprocess.Popen(
            [sys.executable, "-m", module, argument, str(os.getpid())], env={**os.environ, **env},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_ignore_stop_signal)
        out, err = self._worker.communicate()
        sys.stderr.write(err)  # into the job's log, beside SLURM's own lines
        done = subprocess.CompletedProcess(self._worker.args, self._worker.returncode, out, err)
        self._worker = None
        return done

    def give_up(self, reason: str) -> None:
        """Record that the task failed for good with ``reason`` (subclasses leave their markers too)."""
        self.note("failed", error=reason)

    def checkpoint(self):
        """submitit's hook on SIGUSR2: stop the worker now and return this task to requeue, or None (no
        requeue: submitit ends the job) once it was requeued ``max_requeues`` times."""
        from submitit.helpers import DelayedSubmission

        stop_tree(self._worker)
        restarts = restart_count()
        if restarts >= self.max_requeues:
            self.give_up(f"stopped by SLURM (time limit, preemption or signal) after {restarts} requeues; "
                         f"slurm max_requeues is {self.max_requeues}")
            return None
        self.note("requeued", reason="SIGUSR2 (time limit, preemption or scancel --signal)")
        return DelayedSubmission(self)


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class RunTask(WorkerTask):
    """One run of a sweep: its notebook job ``spec`` (``Job.spec``), once its upstream backbone, if it has
    one, is pretrained: ``upstream_weights``, the file its pretraining job makes (computed by the driver, so
    this process needs no torch to look for it), and ``upstream_error``, where that job leaves its error."""

    def __init__(self, spec: dict[str, Any], attempts: Path, max_requeues: int,
                 upstream_weights: Path | None = None, upstream_error: Path | None = None):
        super().__init__(attempts, max_requeues)
        self.spec = spec
        self.upstream_weights = Path(upstream_weights) if upstream_weights is not None else None
        self.upstream_error = upstream_error

    @property
    def output(self) -> Path:
        return Path(self.spec["output"])

    def _outcome(self) -> dict[str, Any] | None:
        from rftlib.sweep.execute import marker

        for status in ("done", "failed"):
            path = marker(self.output, status)
            if path.exists():
                try:
                    return json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    return {"name": self.spec["name"], "status": status, "seconds": None, "error": None}
        return None

    def _finished(self) -> bool:
        """Its notebook's ``.done`` marker and, for a fine-tuning run, the run directory's ``done`` (as
        ``Job.status`` counts a run done)."""
        from rftlib.runs.records import DONE
        from rftlib.sweep.execute import marker

        run_dir = self.spec.get("run_dir")
        return marker(self.output, "done").exists() and (not run_dir or (Path(run_dir) / DONE).exists())

    def give_up(self, reason: str) -> dict[str, Any]:
        """Fail the run for good: its notebook's ``.failed`` marker and the run directory's ``failed``
        marker (``rftlib.runs.rundir``) hold ``reason``, so every reader counts it failed."""
        from rftlib.runs.records import DONE
        from rftlib.runs.rundir import FAILED
        from rftlib.sweep.execute import marker

        super().give_up(reason)
        outcome = {"name": self.spec["name"], "status": "failed", "seconds": None, "error": reason}
        self.output.parent.mkdir(parents=True, exist_ok=True)
        marker(self.output, "done").unlink(missing_ok=True)
        marker(self.output, "failed").write_text(json.dumps(outcome) + "\n", encoding="utf-8")
        run_dir = self.spec.get("run_dir")
        if run_dir and not (Path(run_dir) / DONE).exists():
            (Path(run_dir) / FAILED).write_text(reason + "\n", encoding="utf-8")
        return outcome

    def _upstream_missing(self) -> str | None:
        """The error of an upstream that is not pretrained (its job failed or left nothing), else None: the
        run must not pretrain it itself (every run of the array would, racing on the cache)."""
        if self.upstream_weights is None or self.upstream_weights.exists():
            return None
        from rftlib.sweep.upstreams import upstream_failure

        try:
            error = self.upstream_error.read_text(encoding="utf-8").strip() if self.upstream_error else ""
        except OSError:
            error = ""
        return upstream_failure(error or "its job ended without pretrained weights (cancelled or killed)")

    def __call__(self) -> dict[str, Any]:
        restarts = restart_count()
        self.note("started", gpus=os.environ.get("CUDA_VISIBLE_DEVICES"))
        if restarts > self.max_requeues:
            return self.give_up(f"requeued {restarts} times, more than slurm max_requeues ({self.max_requeues})")
        if self._finished():  # requeued (a preemption, scontrol requeue) after it had finished
            return self._outcome()
        missing = self._upstream_missing()
        if missing:
            return self.give_up(missing)
        done = self.run_worker("rftlib.sweep.execute", json.dumps(self.spec), {})
        outcome = self._outcome()
        if outcome is not None:
            self.note("ended", status=outcome["status"], error=outcome.get("error"))
            return outcome
        if done.returncode < 0:  # killed with the job (scancel, scontrol requeue): SLURM says what comes next
            error = f"its worker was killed by {_signal_name(done.returncode)}"
            self.note("killed", error=error)
            return {"name": self.spec["name"], "status": "failed", "seconds": None, "error": error}
        from rftlib.sweep.execute import worker_error

        return self.give_up(worker_error(done))  # the worker died before writing a marker


class UpstreamTask(WorkerTask):
    """The pretraining of one ``upstream`` setting into ``weights``, which the runs starting from it wait for;
    its error, if it fails, goes to ``error_file`` for them to report."""

    def __init__(self, upstream: dict[str, Any], weights: Path, env: dict[str, str], error_file: Path,
                 max_requeues: int):
        super().__init__(None, max_requeues)
        self.upstream, self.weights, self.env = dict(upstream), Path(weights), dict(env)
        self.error_file = Path(error_file)

    def give_up(self, reason: str) -> None:
        self.error_file.parent.mkdir(parents=True, exist_ok=True)
        self.error_file.write_text(reason + "\n", encoding="utf-8")

    def __call__(self) -> str | None:
        if self.weights.exists():
            return str(self.weights)
        self.error_file.unlink(missing_ok=True)
        done = self.run_worker("rftlib.sweep.upstreams", json.dumps(self.upstream), self.env)
        if done.returncode == 0:
            return done.stdout.strip().splitlines()[-1]
        if done.returncode > 0:
            from rftlib.sweep.execute import worker_error

            self.give_up(worker_error(done))
        return None


class ReportsTask:
    """A sweep's reports and index, rendered on the cluster once its runs have ended (``--no-wait``); with
    tracking on, its runs mirrored into MLflow first (from this compute node: a sqlite store must be on a file
    system it shares)."""

    def __init__(self, sweep):
        self.sweep = sweep

    def __call__(self) -> list[dict[str, Any]]:
        from rftlib.sweep.finish import finish_sweep
        from rftlib.tracking.sweep import sweep_mirror

        mirror = sweep_mirror(self.sweep.tracking, self.sweep.name, self.sweep.runs)
        if mirror is not None:
            mirror.start().close()  # every run as its directory is now, notebooks included
        return finish_sweep(self.sweep, jobs=1, progress=False, log=print).reports


__all__ = ["ReportsTask", "RunTask", "STOP_SIGNAL", "UpstreamTask", "WorkerTask", "current_job_id",
           "restart_count", "stop_tree"]
