"""One writer per run directory: the OS-level lock, its take-over from a dead holder, a killed sweep
taking its workers and kernels with it, and directories whose run never started pinning nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from rftlib import finetune
from rftlib.core.errors import RftError
from rftlib.runs.rundir import RunInUse, RunLock, claim, run_status
from training_helpers import tiny_config

HOLD = ("import sys, time; from rftlib.runs.rundir import RunLock; RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); time.sleep(60)")


def _hold_lock(run_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holders_lock_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = _hold_lock(run_dir)
    try:
        with pytest.raises(RunInUse, match=rf"{run_dir} is in use by process {holder.pid} on "):
            finetune(tiny_config(), run_dir=run_dir, progress=False)
        assert run_status(run_dir) == "running"
        assert not (run_dir / "config.yaml").exists()  # refused before writing anything
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The holder died without releasing: the OS dropped its lock, the next writer takes over.
    with RunLock(run_dir):
        assert (run_dir / "lock").read_text().split()[0] == str(os.getpid())
        assert run_status(run_dir) == "running"
    assert run_status(run_dir) == "unfinished"


def test_a_directory_whose_run_never_started_does_not_pin_its_configuration(tmp_path):
    from rftlib import RunConfig

    run_dir = tmp_path / "run"
    with claim(run_dir, RunConfig.from_dict(tiny_config(max_steps=4)).resolved()):
        pass  # the run died before its first record (data failed to load, killed, ...)
    corrected = RunConfig.from_dict(tiny_config(max_steps=8)).resolved()
    with claim(run_dir, corrected):
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["max_steps"] == 8
    (run_dir / "records.jsonl").write_text("")  # now it started: the configuration is pinned
    with pytest.raises(RftError, match="different configuration.*max_steps"):
        claim(run_dir, RunConfig.from_dict(tiny_config(max_steps=4)).resolved())


@pytest.mark.parametrize("make_bad", ["parent_is_a_file", "is_a_file"])
def test_an_unusable_run_directory_is_one_line(tmp_path, make_bad):
    (tmp_path / "file").write_text("")
    run_dir = tmp_path / "file" / "run" if make_bad == "parent_is_a_file" else tmp_path / "file"
    with pytest.raises(RftError, match=f"cannot create the run directory {run_dir}: "):
        finetune(tiny_config(), run_dir=run_dir, progress=False)


def _sleeping_notebook(path: Path) -> Path:
    """A sweep notebook whose kernel writes its PID and its parent's (the worker's), then sleeps."""
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("x: int = 0\nrun_dir: str | None = None")
    parameters.metadata["tags"] = ["parameters"]
    body = ("import os, time, pathlib\n"
            "pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)\n"
            "(pathlib.Path(run_dir) / 'pids').write_text(f'{os.getpid()} {os.getppid()}')\n"
            "time.sleep(120)")
    nb.cells = [parameters, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "rftlib", "display_name": "Python (rftlib)", "language": "python"}
    nbformat.write(nb, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its (new) parent.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_killing_a_sweep_stops_its_workers_and_kernels(tmp_path):
    sweep = tmp_path / "sleepy.yaml"
    sweep.write_text(yaml.safe_dump({"notebook": str(_sleeping_notebook(tmp_path / "sleepy.ipynb")),
                                     "output_dir": str(tmp_path / "out"), "grid": {"x": [1]}, "reports": {}}))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    driver = subprocess.Popen([sys.executable, "-m", "rftlib.cli", "sweep", str(sweep), "--no-progress"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids_file = None
    deadline = time.monotonic() + 120
    while pids_file is None and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
        pids_file = next(iter((tmp_path / "out").glob("sleepy/*/pids")), None)
    assert pids_file is not None, "the kernel never started"
    kernel, worker = map(int, pids_file.read_text().split())
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 15  # ipykernel polls its parent once a second
    while (_alive(kernel) or _alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in (worker, kernel) if _alive(pid)]
    for pid in survivors:  # leave nothing running, whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "the sweep's worker or kernel outlived it"
