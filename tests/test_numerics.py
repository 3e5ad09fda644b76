"""A run's records do not depend on --jobs, and a run is not resumed under another numerics environment
(here: another CPU thread count) without being forced."""
from __future__ import annotations

import json

import pytest
import torch

from rftlib import finetune
from rftlib.core.errors import RftError
from rftlib.core.numerics import pin_numerics
from rftlib.analysis.results import run_statuses
from rftlib.runs.rundir import failure_reason, run_status
from rftlib.sweep.launch import local_slots
from training_helpers import tiny_config


def test_a_runs_threads_do_not_depend_on_jobs(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    one, two, eight = local_slots(1), local_slots(2), local_slots(8)
    assert one[0] == two[0] == two[1] == eight[7] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                                      "OPENBLAS_NUM_THREADS": "1",
                                                      "MLFLOW_DISABLE_TELEMETRY": "true"}
    assert local_slots(2, threads=4)[1]["OMP_NUM_THREADS"] == "4"  # the sweep's resources.cpus


def test_pin_numerics_refuses_another_environment_unless_forced(tmp_path):
    cpu1 = {"device_type": "cpu", "torch": "2.14.1", "threads": 1, "precision": "fp32"}
    pin_numerics(tmp_path, cpu1, resuming=False, force=False)
    pin_numerics(tmp_path, cpu1, resuming=True, force=False)  # the same: fine
    with pytest.raises(RftError, match=r"started under another numerics environment \(threads 1 -> 2\)"):
        pin_numerics(tmp_path, {**cpu1, "threads": 2}, resuming=True, force=False)
    pin_numerics(tmp_path, {**cpu1, "threads": 2}, resuming=False, force=False)  # a fresh start pins anew
    pin_numerics(tmp_path, {**cpu1, "threads": 4}, resuming=True, force=True)
    stored = json.loads((tmp_path / "numerics.json").read_text())
    assert stored["threads"] == 4 and [p["threads"] for p in stored["previous"]] == [2]


@pytest.mark.slow
def test_resuming_under_another_thread_count_is_refused_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        finetune(tiny_config(max_steps=4), run_dir=run_dir, progress=False)
        assert json.loads((run_dir / "numerics.json").read_text())["threads"] == 1
        (run_dir / "done").unlink()  # as if killed after its last checkpoint
        torch.set_num_threads(2)
        with pytest.raises(RftError, match=r"run was started under another numerics environment \(threads 1 -> 2\)"
                                           r".*--force-resume") as error:
            finetune(tiny_config(max_steps=4), run_dir=run_dir, progress=False)
        assert "\n" not in str(error.value)
        # Recorded as failed, with its reason: the reports and the sweep index read the same status.
        assert failure_reason(run_dir) == f"RftError: {error.value}"
        assert run_status(run_dir) == "failed" and run_statuses([run_dir]) == {run_dir: "failed"}
    finally:
        torch.set_num_threads(threads)
