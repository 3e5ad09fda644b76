"""A run killed with SIGKILL resumes from its last checkpoint and ends with the records of an
uninterrupted run: no step missing, none duplicated."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rftlib import finetune
from rftlib.runs.outcomes import read_outcomes
from rftlib.runs.records import keep_records_up_to, read_records
from rftlib.runs.rundir import RunInUse
from training_helpers import tiny_config, without_timing

# The child sleeps before each training step: the tiny model trains a step in ~30 ms, and the kill must
# land mid-run however busy the machine. Sleeping changes no number (records and outcomes are compared).
CHILD = """
import json, sys, time
from rftlib import finetune
from rftlib.training import loop

real_step, pause = loop.training_step, float(sys.argv[3])

def paced_step(*args, **kwargs):
    time.sleep(pause)
    return real_step(*args, **kwargs)

loop.training_step = paced_step
finetune(json.loads(sys.argv[1]), run_dir=sys.argv[2], progress=False)
"""


def _start(config, run_dir, pause=0.15):
    """The run in a child process, ``pause`` seconds slower per training step than it would be."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config), str(run_dir), str(pause)], env=env)


def _wait_for_records(path, count, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before writing {count} records")
        time.sleep(0.05)
    pytest.fail("the run did not get far enough in time")


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_records(tmp_path):
    config = tiny_config(max_steps=24, schedule=[[None, 4]])
    reference = finetune(config, run_dir=tmp_path / "reference", progress=False)

    run_dir = tmp_path / "killed"
    process = _start(config, run_dir)
    _wait_for_records(run_dir / "records.jsonl", 3, process)
    with pytest.raises(RunInUse, match=f"in use by process {process.pid} "):  # one writer at a time
        finetune(config, run_dir=run_dir, progress=False)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "done").exists()
    written = [r["step"] for r in read_records(run_dir / "records.jsonl")]
    assert 3 <= len(written) < 7, written

    resumed = finetune(config, run_dir=run_dir, progress=False)
    steps = list(resumed.records["step"])
    assert steps == [0, 4, 8, 12, 16, 20, 24]
    assert without_timing(resumed.records) == without_timing(reference.records)
    assert (run_dir / "done").exists()
    # The per-sample outcomes agree with the records, file for file and point for point.
    killed_outcomes, reference_outcomes = read_outcomes(run_dir), read_outcomes(tmp_path / "reference")
    assert list(killed_outcomes) == steps
    for step in steps:
        assert killed_outcomes[step].keys() == reference_outcomes[step].keys()
        for key in reference_outcomes[step]:
            assert (killed_outcomes[step][key] == reference_outcomes[step][key]).all(), (step, key)


def test_records_after_the_checkpoint_are_dropped_and_a_torn_line_ignored(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps({"step": s}) + "\n" for s in (0, 4, 8)) + '{"step": 1')
    assert [r["step"] for r in read_records(path)] == [0, 4, 8]
    assert [r["step"] for r in keep_records_up_to(path, 4)] == [0, 4]
    assert [r["step"] for r in read_records(path)] == [0, 4]
