"""How the SLURM launcher reads the queue and the runs' directories, without a cluster: the states `rft status`
and the waiting driver show, and the reasons given for jobs that ended without finishing their run (the
same code against a real cluster: test_slurm.py)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from rftlib.sweep import load_sweep
from rftlib.sweep.execute import marker
from rftlib.sweep.slurm_queue import QueueEntry, log_reason
from rftlib.sweep.slurm_status import run_states, summary_line, table
from rftlib.sweep.slurm_submit import Registry, job_log

ROOT = Path(__file__).resolve().parents[1]


def _sweep(tmp_path: Path, runs: int):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"notebook": str(ROOT / "tests" / "notebooks" / "tiny_run.ipynb"),
                                    "output_dir": str(tmp_path / "out"), "grid": {"x": list(range(runs))},
                                    "reports": {}}))
    return load_sweep(path)


def test_slurmstepd_lines_say_why_a_job_ended(tmp_path):
    cases = {
        "slurmstepd: error: *** JOB 12 ON node1 CANCELLED AT 2026-01-01T10:00:00 DUE TO TIME LIMIT ***":
            "was cancelled by SLURM at its time limit",
        "slurmstepd-node1: error: *** STEP 12.0 ON node1 CANCELLED AT 2026-01-01T10:00:00 ***":
            "was cancelled (scancel or an administrator)",
        "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=12.0. Some of your processes may have been killed":
            "ran out of memory (SLURM's oom-kill)",
        "slurmstepd: error: *** JOB 12 ON node1 CANCELLED AT 2026-01-01T10:00:00 DUE TO NODE FAILURE ***":
            "lost its node",
        "a run's own output, and no line of slurmstepd's": None,
    }
    for text, reason in cases.items():
        log = tmp_path / "log.err"
        log.write_text(f"submitit INFO starting\n{text}\n")
        assert log_reason(log) == reason
    assert log_reason(tmp_path / "missing.err") is None


def test_run_states_come_from_the_directories_first_then_the_queue_then_the_logs(tmp_path):
    sweep = _sweep(tmp_path, 6)
    done, pending, requeued, running, cancelled, refused = sweep.runs
    registry = Registry(tmp_path / "jobs.json", runs={job.name: f"7_{i}" for i, job in enumerate(sweep.runs)})
    for job in (done, refused):
        job.directory.mkdir(parents=True)
    marker(done.output, "done").write_text(json.dumps({"status": "done"}))
    (done.directory / "done").write_text("")
    marker(refused.output, "failed").write_text(json.dumps({"status": "failed", "error": "RftError: bad value"}))
    job_log(sweep.root, "7_4").parent.mkdir(parents=True)
    job_log(sweep.root, "7_4").write_text("slurmstepd: error: *** JOB 11 ON n1 CANCELLED AT 2026-01-01T10:00:00 ***\n")
    entries = {"7_0": QueueEntry("7_0", "RUNNING", 0, "None"),  # done on disk: done whatever the queue says
               "7_1": QueueEntry("7_1", "PENDING", 0, "Priority"),
               "7_2": QueueEntry("7_2", "PENDING", 2, "BeginTime"),
               "7_3": QueueEntry("7_3", "COMPLETING", 1, "None"),
               "7_4": QueueEntry("7_4", "CANCELLED", 0, "None")}  # 7_5 has left the queue
    states = run_states(sweep.runs, sweep.root, registry, entries)
    assert [(s.state, s.restarts, s.reason) for s in states] == [
        ("done", 0, None), ("pending", 0, "Priority"), ("requeued", 2, "BeginTime"), ("running", 1, None),
        ("failed", 0, "job 7_4 was cancelled (scancel or an administrator)"), ("failed", 0, "RftError: bad value")]
    assert summary_line(states) == "1 pending, 1 running, 1 requeued, 1 done, 2 failed"
    assert table(states)[2].split() == ["requeued", "7_2", "(requeued", "2x)", requeued.name, "BeginTime"]


def test_a_job_that_left_the_queue_without_a_trace_is_failed_and_an_unreadable_queue_fails_nothing(tmp_path):
    sweep = _sweep(tmp_path, 2)
    submitted, never = sweep.runs
    registry = Registry(tmp_path / "jobs.json", runs={submitted.name: "9"})
    states = run_states(sweep.runs, sweep.root, registry, {})
    assert [(s.state, s.reason) for s in states] == [
        ("failed", "job 9 left the queue without finishing the run (cancelled or killed before it started?)"),
        ("todo", None)]
    assert summary_line(states) == "0 pending, 0 running, 0 requeued, 0 done, 1 failed, 1 todo"
    unknown = run_states(sweep.runs, sweep.root, registry, None)  # squeue did not answer
    assert [(s.state, s.reason) for s in unknown] == [("pending", "the queue cannot be read"), ("todo", None)]
