"""What SLURM's queue says about a sweep's jobs, without accounting.

``sacct`` needs slurmdbd, which many clusters (and test clusters) do not run, and submitit's job states come
from it: without it a cancelled or killed job never reports an end. rftlib asks ``squeue`` instead, which
the controller answers from memory: a job is live while it is listed as pending, running, requeued, ...;
once it has left the queue (or shows an end state), what happened is read from the run's own markers and,
for the reason, from SLURM's lines in the job's log (``slurmstepd: *** JOB 12 CANCELLED AT ... ***``).
Light to import.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Every state a job is in until it has ended for good (squeue's long names).
LIVE_STATES = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED",
                         "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                         "RESV_DEL_HOLD", "SPECIAL_EXIT", "POWER_UP_NODE", "UPDATE_DB"})
_TIMEOUT_S = 60
_ENDED = {"CANCELLED": "was cancelled (scancel or an administrator)", "TIMEOUT": "reached its time limit",
          "OUT_OF_MEMORY": "ran out of memory", "NODE_FAIL": "lost its node", "BOOT_FAIL": "lost its node at boot",
          "PREEMPTED": "was preempted and not requeued", "DEADLINE": "passed its deadline", "FAILED": "failed",
          "COMPLETED": "ended without finishing the run"}


class QueueUnavailable(Exception):
    """squeue is missing or did not answer (the controller is down or unreachable)."""


@dataclass(frozen=True)
class QueueEntry:
    """One job (or array task) as squeue lists it: ``job_id`` as ``12`` or ``12_3``."""

    job_id: str
    state: str
    restarts: int
    reason: str

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def ended_as(self) -> str:
        """What the end state says, for a job that ended without finishing its run."""
        return _ENDED.get(self.state, f"ended {self.state}")

    @property
    def pending(self) -> bool:
        return self.state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT")


def slurm_command(name: str) -> str | None:
    """The path of a SLURM client command, None when this machine has none."""
    return shutil.which(name)


def base_id(job_id: str) -> str:
    """The job id of an array task's whole array (``12_3`` -> ``12``); a plain job's own id."""
    return job_id.split("_", 1)[0]


def queue(job_ids: Iterable[str]) -> dict[str, QueueEntry]:
    """The entries squeue lists for ``job_ids`` (plain jobs and array tasks, ``12_3``), by id; a job that
    has left the controller's memory is absent. QueueUnavailable when squeue cannot answer."""
    wanted = set(job_ids)
    if not wanted:
        return {}
    squeue = slurm_command("squeue")
    if squeue is None:
        raise QueueUnavailable("squeue is not on PATH")
    # All states: an ended job stays listed (as COMPLETED, CANCELLED, ...) for the controller's MinJobAge.
    # Every job of this user, filtered here: `-j` fails outright when one id is no longer known.
    command = [squeue, "--noheader", "--array", "--states=all", "--user", str(os.getuid()),
               "--Format=JobArrayID:|,State:|,RestartCnt:|,Reason:|"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise QueueUnavailable(f"squeue failed: {error}") from None
    if done.returncode != 0:
        raise QueueUnavailable(f"squeue failed: {_last_line(done.stderr) or f'exit status {done.returncode}'}")
    entries = {}
    for line in done.stdout.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 4 or fields[0] not in wanted:
            continue
        restarts = int(fields[2]) if fields[2].isdigit() else 0
        entries[fields[0]] = QueueEntry(fields[0], fields[1].split()[0] if fields[1] else "UNKNOWN", restarts,
                                        fields[3])
    return entries


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else ""


# slurmstepd's own lines in a job's stderr, and what they mean for a run.
_STEPD = re.compile(r"\*\*\* (?:JOB|STEP) \S+ ON \S+ CANCELLED AT \S+(?: DUE TO ([A-Z ]+?))?(?: \*\*\*|$)")
_OOM = re.compile(r"oom[-_ ]kill", re.IGNORECASE)


def log_reason(log: Path) -> str | None:
    """Why SLURM ended the job whose stderr is ``log``, from slurmstepd's lines (the last one counts): out
    of memory, its time limit, a requeue, a cancel, a node failure; None when the log says nothing."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return None
    if _OOM.search(text):
        return "ran out of memory (SLURM's oom-kill)"
    reasons = [match.group(1) for match in _STEPD.finditer(text)]
    if not reasons:
        return None
    why = (reasons[-1] or "").strip()
    if why == "TIME LIMIT":
        return "was cancelled by SLURM at its time limit"
    if why == "JOB REQUEUE":
        return "was requeued by SLURM"
    if why == "NODE FAILURE":
        return "lost its node"
    return f"was cancelled ({why.lower()})" if why else "was cancelled (scancel or an administrator)"


def signal_job(job_id: str, signal_name: str) -> None:
    """Send ``signal_name`` (e.g. USR2) to a running job's steps, as SLURM does before a time limit."""
    subprocess.run([slurm_command("scancel") or "scancel", f"--signal={signal_name}", job_id], check=True,
                   capture_output=True, timeout=_TIMEOUT_S)


__all__ = ["LIVE_STATES", "QueueEntry", "QueueUnavailable", "base_id", "log_reason", "queue", "signal_job",
           "slurm_command"]
