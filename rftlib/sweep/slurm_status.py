"""Where a sweep's runs stand, from their directories and SLURM's queue: the table ``rft status`` prints and
the progress ``rft sweep --launcher slurm`` shows while it waits.

A run is ``done`` when its directory says so; else, while its job is in the queue, ``pending``,
``running`` or ``requeued`` (pending again after SLURM requeued it: a time limit, a preemption); once its job
has left the queue without finishing it, ``failed``, with the reason from the run's markers, the job's
attempt lines or SLURM's own lines in the job's log (cancelled, time limit, out of memory). A run never
submitted is ``todo`` (or what its directory says). No state comes from ``sacct``
(``rftlib.sweep.slurm_queue``), so nothing waits on a job that left no result.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rftlib.core.errors import RftError
from rftlib.sweep.jobs import Job
from rftlib.sweep.slurm_queue import QueueEntry, QueueUnavailable, queue
from rftlib.sweep.slurm_submit import Registry, attempts_file, job_log

STATES = ("pending", "running", "requeued", "done", "failed", "todo")
POLL_SECONDS = 2.0
QUEUE_PATIENCE_S = 300  # how long the queue may stay unreadable before waiting gives up


@dataclass(frozen=True)
class RunState:
    name: str
    state: str  # one of STATES
    job_id: str | None = None
    restarts: int = 0
    reason: str | None = None  # why it failed, or why it is pending

    @property
    def ended(self) -> bool:
        return self.state in ("done", "failed")


def _last_attempt(root: Path, name: str) -> dict[str, Any] | None:
    try:
        lines = attempts_file(root, name).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _marker_error(job: Job) -> str | None:
    from rftlib.runs.rundir import failure_reason
    from rftlib.sweep.execute import marker

    try:
        return json.loads(marker(job.output, "failed").read_text(encoding="utf-8")).get("error")
    except (OSError, ValueError):
        pass
    return failure_reason(job.directory) if job.is_run else None


def failure_reason(job: Job, root: Path, job_id: str, entry: QueueEntry | None) -> str:
    """Why a run whose job left the queue is not done: its own markers first (the notebook's error, the
    requeue limit), then SLURM's lines in the job's log, then the job's last attempt line, then the queue."""
    from rftlib.sweep.slurm_queue import log_reason

    error = _marker_error(job)
    if error:
        return error
    said = log_reason(job_log(root, job_id))
    attempt = _last_attempt(root, job.name)
    if said:
        return f"job {job_id} {said}"
    if attempt and attempt.get("job") == job_id and attempt.get("error"):
        return f"job {job_id}: {attempt['error']}"
    if entry is not None:
        return f"job {job_id} {entry.ended_as}"
    return f"job {job_id} left the queue without finishing the run (cancelled or killed before it started?)"


def run_states(runs: Sequence[Job], root: Path, registry: Registry,
               entries: dict[str, QueueEntry] | None) -> list[RunState]:
    """Each run's state; ``entries`` None (queue unreadable): a submitted run not done is shown ``pending``
    with that reason rather than failed."""
    states = []
    for job in runs:
        disk = job.status()
        job_id = registry.runs.get(job.name)
        entry = (entries or {}).get(job_id) if job_id else None
        restarts = entry.restarts if entry else 0
        if disk == "done":
            states.append(RunState(job.name, "done", job_id, restarts))
        elif entry is not None and entry.live:
            if entry.pending:
                requeued = restarts > 0 or entry.state.startswith("REQUEUE")
                reason = entry.reason if entry.reason not in ("", "None") else None
                states.append(RunState(job.name, "requeued" if requeued else "pending", job_id, restarts, reason))
            else:
                states.append(RunState(job.name, "running", job_id, restarts))
        elif job_id and entries is None:
            states.append(RunState(job.name, "pending", job_id, 0, "the queue cannot be read"))
        elif job_id:
            states.append(RunState(job.name, "failed", job_id, restarts, failure_reason(job, root, job_id, entry)))
        elif disk == "failed":
            states.append(RunState(job.name, "failed", None, 0, _marker_error(job)))
        elif disk == "running":  # locked by a process outside SLURM (a local sweep)
            states.append(RunState(job.name, "running", None, 0, "outside SLURM"))
        else:
            states.append(RunState(job.name, "todo"))
    return states


def read_states(sweep, runs: Sequence[Job] | None = None, registry: Registry | None = None
                ) -> tuple[list[RunState], str | None]:
    """The states of ``runs`` (default: all the sweep's) and, when the queue could not be read, why."""
    runs = sweep.runs if runs is None else runs
    registry = registry or Registry.load(sweep.root)
    ids = [registry.runs[job.name] for job in runs if job.name in registry.runs and job.status() != "done"]
    try:
        entries, problem = (queue(ids) if ids else {}), None
    except QueueUnavailable as error:
        entries, problem = None, str(error)
    return run_states(runs, sweep.root, registry, entries), problem


def counts(states: Sequence[RunState]) -> dict[str, int]:
    return {state: sum(s.state == state for s in states) for state in STATES}


def summary_line(states: Sequence[RunState]) -> str:
    """``2 pending, 1 running, 0 requeued, 3 done, 0 failed`` (and the runs not submitted, if any)."""
    numbers = counts(states)
    shown = [f"{numbers[s]} {s}" for s in STATES if s != "todo" or numbers[s]]
    return ", ".join(shown)


def table(states: Sequence[RunState]) -> list[str]:
    """One line per run: state, job id (with its requeues), name, reason."""
    lines = []
    for s in states:
        job = f"{s.job_id or '-'}" + (f" (requeued {s.restarts}x)" if s.restarts else "")
        lines.append(f"  {s.state:9} {job:22} {s.name}" + (f"  {s.reason}" if s.reason else ""))
    return lines


def wait_for_runs(sweep, runs: Sequence[Job], registry: Registry, progress: bool = True,
                  log: Callable[[str], None] | None = None, poll_s: float = POLL_SECONDS) -> Iterator[dict[str, Any]]:
    """Wait until every run of ``runs`` has ended, showing the counts on standard error as they change; yield
    each run's outcome (``execute.execute_job``'s form) as it ends. Gives up, with an RftError, when the queue
    stays unreadable for ``QUEUE_PATIENCE_S``."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        yield from _wait(sweep, runs, registry, progress, log, poll_s)
    except KeyboardInterrupt:
        log(f"detached: the jobs go on in SLURM; `rft status {sweep.path}` shows them, `rft sweep {sweep.path} "
            f"--launcher slurm` waits for them again")
        raise


def _wait(sweep, runs: Sequence[Job], registry: Registry, progress: bool, log: Callable[[str], None],
          poll_s: float) -> Iterator[dict[str, Any]]:
    if not runs:
        return
    ended: set[str] = set()
    shown, unreadable_since = None, None
    while True:
        states, problem = read_states(sweep, runs, registry)
        if problem:
            unreadable_since = unreadable_since or time.monotonic()
            if time.monotonic() - unreadable_since > QUEUE_PATIENCE_S:
                raise RftError(f"the SLURM queue has been unreadable for {QUEUE_PATIENCE_S} s ({problem}); the jobs "
                               f"may still run: `rft status {sweep.path}` shows them")
        else:
            unreadable_since = None
        for state in states:
            if state.ended and state.name not in ended:
                ended.add(state.name)
                yield _outcome(sweep, state)
        line = summary_line(states)
        if progress and line != shown:
            log(f"{sweep.name} runs: {line}")
            shown = line
        if len(ended) == len(runs):
            return
        time.sleep(poll_s)


def _outcome(sweep, state: RunState) -> dict[str, Any]:
    seconds = None
    if state.state == "done":
        from rftlib.sweep.execute import marker

        job = next(job for job in sweep.runs if job.name == state.name)
        try:
            seconds = json.loads(marker(job.output, "done").read_text(encoding="utf-8")).get("seconds")
        except (OSError, ValueError):
            pass
    return {"name": state.name, "status": state.state, "seconds": seconds, "error": state.reason}


# ---- `rft status` -------------------------------------------------------------------------------------

def configure_parser(parser) -> None:
    parser.add_argument("sweep", help="the sweep YAML")
    parser.add_argument("--all", action="store_true", help="list every run (default: those not done)")


def command(args) -> int:
    from rftlib.sweep.spec import load_sweep

    sweep = load_sweep(args.sweep)
    registry = Registry.load(sweep.root)
    states, problem = read_states(sweep, registry=registry)
    print(f"sweep {sweep.name}: {len(states)} runs: {summary_line(states)}")
    if problem:
        print(f"  (the SLURM queue could not be read: {problem})")
    shown = states if args.all else [s for s in states if s.state != "done"]
    print("\n".join(table(shown)) if shown else "  every run is done")
    if registry.reports:
        print(f"reports: SLURM job {registry.reports} -> {sweep.root / 'reports'}")
    return 0


__all__ = ["POLL_SECONDS", "RunState", "STATES", "command", "configure_parser", "counts", "read_states",
           "run_states", "summary_line", "table", "wait_for_runs"]
