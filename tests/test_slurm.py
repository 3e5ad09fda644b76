"""`rft sweep --launcher slurm` against a real single-node SLURM cluster that the tests start (one per session:
``tests/slurm_cluster.py``). Drivers run as separate `rft` processes, as a user would start them; the cluster
is driven only through SLURM's own commands (scancel --signal, scontrol requeue, time limits).

The fine-tuning runs use ``tests/notebooks/tiny_finetune.ipynb`` (the sweep's notebook without the plots) on
``training_helpers.tiny_config``; the others ``tiny_run.ipynb``, whose ``$TINY_SLEEP`` run sleeps once, so a
test can stop it mid-way without spending CPU."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from slurm_cluster import PACKAGES, SlurmCluster, missing_commands

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = ROOT / "tests" / "notebooks" / "tiny_run.ipynb"
TINY_REPORT = ROOT / "tests" / "notebooks" / "tiny_report.ipynb"
TINY_FINETUNE = ROOT / "tests" / "notebooks" / "tiny_finetune.ipynb"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slurm")]


@pytest.fixture(scope="session")
def cluster():
    """slurmctld and slurmd for the whole session; stopped with every job cancelled and both daemons gone."""
    missing = missing_commands()
    if missing:
        pytest.skip(f"the SLURM tests need Debian's {', '.join(PACKAGES)} packages "
                    f"(apt-get install {' '.join(PACKAGES)}): {', '.join(missing)} not found")
    folder = tempfile.mkdtemp(prefix="rft-slurm-", dir="/tmp")
    os.chmod(folder, 0o755)  # the daemons and the jobs read it
    running = SlurmCluster(folder).start()
    try:
        yield running
    finally:
        daemons = list(running.daemons)
        running.stop()
        assert all(d.poll() is not None for d in daemons)
        shutil.rmtree(folder, ignore_errors=True)


BACKGROUND = "bg-"  # the sweeps that run in the background, by name: each test's clean-up leaves their jobs


@dataclass
class Background:
    """A sweep whose driver runs while the other tests do (the tests of this group run one at a time on one
    worker; these would mostly wait), and the thread that acts on it (signals), if any."""

    path: Path
    driver: subprocess.Popen
    thread: threading.Thread | None = None
    errors: list = field(default_factory=list)
    output: str | None = None
    references: dict = field(default_factory=dict)

    def finish(self, timeout: float = 300) -> str:
        """The driver's output once it has ended (and the thread), re-raising what failed in the thread."""
        if self.output is None:
            self.output, _ = self.driver.communicate(timeout=timeout)
            if self.thread is not None:
                self.thread.join(timeout=30)
        if self.errors:
            raise self.errors[0]
        return self.output


def background(cluster: SlurmCluster, path: Path, *flags: str, env: dict | None = None) -> Background:
    return Background(path, start_rft(cluster, "sweep", str(path), "--launcher", "slurm", *flags, env=env))


@pytest.fixture(scope="session")
def time_limited(cluster, tmp_path_factory):
    """A sweep whose run reaches a 1-minute time limit (``test_a_time_limit_...``): SLURM checks time limits
    every ~30 s. The signal comes 50 s before the limit, at the first check 10 s or more into the job."""
    limited = background(cluster, write_sweep(tmp_path_factory.mktemp("limit"), f"{BACKGROUND}limit", grid={"x": [1]}),
                         "--slurm", "timeout_min=1", "--slurm", "signal_delay_s=50",
                         env={"TINY_SLEEP": "1", "TINY_SLEEP_S": "300"})
    yield limited
    if limited.driver.poll() is None:
        limited.driver.kill()


@pytest.fixture(scope="session")
def pair(cluster, tmp_path_factory):
    """Two tiny fine-tuning runs from one upstream backbone, with a report: the pretraining job, then the runs'
    array, then the report by the driver. Run seed 0 is stopped twice mid-run: by SIGUSR2 (as SLURM sends before
    a time limit or on preemption; here by scancel --signal), then by a plain `scontrol requeue` (SIGTERM, then
    SIGKILL). Its kernel is paused first each time, so the stop lands mid-run whatever the machine's load. Seed 1
    runs through. Checked by two tests."""
    from rftlib.sweep import load_sweep
    from training_helpers import TINY_VIT

    tmp = tmp_path_factory.mktemp("pair")
    upstream = dict(steps=3, batch_size=16, output_dir=str(tmp / "upstream"), model_kwargs=dict(TINY_VIT),
                    dataset_options={"num_classes": 4, "train_size": 64, "test_size": 32})
    path = finetune_sweep(tmp, f"{BACKGROUND}pair", {"seed": [0, 1]}, pretrained=True, upstream=upstream,
                          max_steps=64, schedule=[[None, 8]])
    spec = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**spec, "reports": {str(TINY_REPORT): {}}}))
    sweep = load_sweep(path)
    started = background(cluster, path)
    started.thread = threading.Thread(target=_stop_twice, args=(cluster, started, sweep, sweep.runs[0]), daemon=True)
    started.thread.start()
    yield started
    if started.driver.poll() is None:
        started.driver.kill()


def _stop_twice(cluster: SlurmCluster, started: Background, sweep, run) -> None:
    """Pause the run's kernel and stop its job: SIGUSR2 after 3 records, a plain requeue after 5."""
    try:
        records = run.directory / "records.jsonl"
        for lines, stop in ((3, ["scancel", "--signal=USR2"]), (5, ["scontrol", "requeue"])):
            wait_for(lambda: records.exists() and len(records.read_text().splitlines()) >= lines, timeout=300,
                     what=f"{lines} records of {run.name}", process=started.driver, poll=0.05)
            os.kill(int((run.directory / "lock").read_text().split()[0]), signal.SIGSTOP)
            cluster.command(*stop, registry(sweep)["runs"][run.name])
    except BaseException as error:  # noqa: BLE001 - the test re-raises it
        started.errors.append(error)


@pytest.fixture
def slurm(cluster, time_limited, pair):
    """The cluster, once the background sweeps have started; each test's jobs are cancelled after it (a failed
    test leaves none behind for the next), the background sweeps' are left to them."""
    yield cluster
    cluster.cancel_all(keep=f"rft-{BACKGROUND}")


def rft(cluster: SlurmCluster, *args: str, env: dict | None = None, timeout: float = 240
        ) -> subprocess.CompletedProcess:
    """`rft ...` as a separate process against ``cluster``."""
    return subprocess.run([sys.executable, "-m", "rftlib.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **cluster.env, **(env or {})})


def start_rft(cluster: SlurmCluster, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rftlib.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **cluster.env, **(env or {})})


def write_sweep(tmp_path: Path, name: str = "tiny", **keys) -> Path:
    spec = {"notebook": str(TINY_RUN), "output_dir": str(tmp_path / "out"), "grid": {"x": [1, 2]}, "reports": {},
            **keys}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def finetune_sweep(tmp_path: Path, name: str, grid: dict, **config) -> Path:
    """A sweep of tiny fine-tuning runs (the demo profile without its extra attacks and final AutoAttack)."""
    from training_helpers import tiny_config

    parameters = {"profile": "demo", **tiny_config(**{"upstream": None, "attacks": None, "final_autoattack": None,
                                                      **config})}
    return write_sweep(tmp_path, name, notebook=str(TINY_FINETUNE), parameters=parameters, grid=grid)


def ours(cluster: SlurmCluster) -> set[str]:
    """Every job id the controller knows (ended ones too), but the background sweeps'."""
    listed = cluster.command("squeue", "-h", "-r", "--states=all", "-o", "%i %j").stdout.splitlines()
    return {job for job, _, name in (line.partition(" ") for line in listed) if not name.startswith(f"rft-{BACKGROUND}")}


def submissions(output: str) -> list[str]:
    """The lines of a driver's output that say it submitted something."""
    return [line for line in output.splitlines() if line.startswith("submitted ")]


def registry(sweep) -> dict:
    return json.loads((sweep.root / "slurm" / "jobs.json").read_text())


def attempts(sweep, run) -> list[dict]:
    path = sweep.root / "slurm" / "attempts" / f"{run.name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for(condition, timeout: float = 120, what: str = "the condition", process: subprocess.Popen | None = None,
             poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the driver ended (status {process.returncode}) before {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def reference_records(run, tmp_path: Path) -> list[dict]:
    """The run's records trained here, in-process, without any launcher (what the local launcher's kernel does)."""
    from rftlib import finetune
    from rftlib.training.params import pretrained_weights
    from training_helpers import without_timing

    config = dict(run.config)
    upstream = config.pop("upstream", None)
    if upstream is not None:
        config["weights"] = pretrained_weights(upstream)  # cached by the sweep's pretraining job
    return without_timing(finetune(config, run_dir=tmp_path / "reference" / run.name, progress=False).records)


def records_of(run) -> list[dict]:
    from rftlib.runs.records import read_records
    from training_helpers import without_timing

    return without_timing(read_records(run.directory / "records.jsonl"))


# ---- the tests -----------------------------------------------------------------------------------------

def test_a_cancelled_job_and_a_run_requeued_too_often_are_failed_with_their_reasons_and_the_other_run_ends(
        slurm, tmp_path):
    """Three runs, at most 0 requeues each: one job is cancelled mid-run (scancel), another requeued from
    outside (scontrol requeue); the driver reports both failed with their reasons, without hanging, and the
    third run ends."""
    from rftlib.sweep import load_sweep

    path = write_sweep(tmp_path, "stops", grid={"x": [1, 2, 3]})
    sweep = load_sweep(path)
    cancelled, requeued, untouched = sweep.runs
    driver = start_rft(slurm, "sweep", str(path), "--launcher", "slurm", "--slurm", "max_requeues=0",
                       env={"TINY_SLEEP": "1,2", "TINY_SLEEP_S": "300"})
    try:
        for run in (cancelled, requeued):
            wait_for((run.directory / "slept").exists, what=f"{run.name} to start sleeping", process=driver)
        jobs = registry(sweep)["runs"]
        slurm.command("scancel", jobs[cancelled.name])
        slurm.command("scontrol", "requeue", jobs[requeued.name])
        out, _ = driver.communicate(timeout=90)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 1, out
    assert "1 done now, 0 already done, 2 failed" in out
    assert f"failed {cancelled.name}: job {jobs[cancelled.name]} was cancelled (scancel or an administrator)" in out
    assert f"failed {requeued.name}: requeued 1 times, more than slurm max_requeues (0)" in out
    assert [run.status() for run in sweep.runs] == ["started", "failed", "done"]  # cancelled: interrupted on disk
    assert attempts(sweep, requeued)[-1]["event"] == "failed"


def test_a_gpu_request_is_scheduled_on_the_fake_gpus_and_an_impossible_one_refused(slurm, tmp_path):
    if not slurm.gpus:
        pytest.skip("this machine cannot make the fake GPU devices (mknod needs root)")
    from rftlib.sweep import load_sweep

    path = write_sweep(tmp_path, "gpu", grid={"x": [1]})
    refused = rft(slurm, "sweep", str(path), "--launcher", "slurm", "--slurm", "gpus_per_node=3")
    assert refused.returncode == 2 and not refused.stdout and len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith("rft sweep: error: SLURM refuses the sweep's jobs (timeout_min=240, "
                                     "cpus_per_task=1, gpus_per_node=3): ")
    assert "node configuration is not available" in refused.stderr.lower()  # SLURM's words
    done = rft(slurm, "sweep", str(path), "--launcher", "slurm", "--slurm", "gpus_per_node=1")
    assert done.returncode == 0, done.stdout + done.stderr
    run = load_sweep(path).runs[0]
    assert json.loads((run.directory / "result.json").read_text())["gpus"] == "0"  # one GPU, seen as device 0
    job = registry(load_sweep(path))["runs"][run.name]
    assert "#SBATCH --gres=gpu:1" in (run.directory.parent / "slurm" / "submitit" / f"{job}_submission.sh").read_text()


def test_a_rerun_submits_nothing_pending_running_or_done_and_status_follows(slurm, tmp_path):
    """--no-wait twice: the second submits nothing (both runs are queued); `rft status` shows them; the
    reports job renders once they end; a waiting rerun then finds everything done and submits nothing."""
    from rftlib.sweep import load_sweep

    path = write_sweep(tmp_path, "again", reports={str(TINY_REPORT): {}})
    sweep = load_sweep(path)
    env = {"TINY_SLEEP": "1", "TINY_SLEEP_S": "5"}  # run x=1 stays queued while the second rft sweep looks
    first = rft(slurm, "sweep", str(path), "--launcher", "slurm", "--no-wait", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    submitted = registry(sweep)
    array, reports = submitted["runs"][sweep.runs[0].name].split("_")[0], submitted["reports"]
    assert f"submitted 2 runs as SLURM job {array}" in first.stdout
    assert f"reports: SLURM job {reports} renders them once the runs have ended" in first.stdout
    second = rft(slurm, "sweep", str(path), "--launcher", "slurm", "--no-wait", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "runs already queued in SLURM: not submitted again" in second.stdout
    assert not submissions(second.stdout)
    assert f"reports: SLURM job {reports} renders them" in second.stdout and registry(sweep) == submitted
    status = rft(slurm, "status", str(path))
    assert status.returncode == 0 and "sweep again: 2 runs: " in status.stdout
    assert f" {array}_0 " in status.stdout  # the sleeping run, pending or running
    index = sweep.root / "reports" / "index.html"
    wait_for(lambda: index.exists() and (sweep.root / "reports" / "tiny_report.done").exists(), what="the reports job")
    status = rft(slurm, "status", str(path))
    assert "sweep again: 2 runs: 0 pending, 0 running, 0 requeued, 2 done, 0 failed" in status.stdout
    known = ours(slurm)
    third = rft(slurm, "sweep", str(path), "--launcher", "slurm", "--no-progress")
    assert third.returncode == 0, third.stdout + third.stderr
    assert "2 of 2 runs already done: skipped" in third.stdout and not submissions(third.stdout)
    assert registry(sweep) == submitted
    assert ours(slurm) == known  # no new job


@pytest.mark.parametrize("flag, asked, says", [
    ("partition=nope", "partition=nope, timeout_min=240, cpus_per_task=1", "invalid partition"),
    ("extra.bogus-option=1", "timeout_min=240, cpus_per_task=1, extra --bogus-option=1", "unrecognized option"),
    ("mem_gb=1000", "timeout_min=240, cpus_per_task=1, mem_gb=1000", "node configuration is not available"),
])
def test_a_request_the_cluster_refuses_is_refused_before_anything_is_submitted(slurm, tmp_path, flag, asked, says):
    path = write_sweep(tmp_path, "bad")
    queued = set(slurm.jobs(keep=f"rft-{BACKGROUND}"))
    done = rft(slurm, "sweep", str(path), "--launcher", "slurm", "--slurm", flag)
    assert done.returncode == 2 and not done.stdout and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(f"rft sweep: error: SLURM refuses the sweep's jobs ({asked}): ")
    assert says in done.stderr.lower()  # SLURM's own words, as its version puts them
    assert not (tmp_path / "out" / "bad" / "slurm" / "jobs.json").exists()
    assert set(slurm.jobs(keep=f"rft-{BACKGROUND}")) <= queued  # nothing submitted


def test_a_time_limit_stops_a_run_that_is_requeued_and_then_ends(slurm, time_limited):
    """The run of `time_limited` gets SIGUSR2 from SLURM itself at its time limit (no one else signals it), is
    requeued and its next attempt ends (it sleeps only once)."""
    from rftlib.sweep import load_sweep

    out = time_limited.finish(timeout=200)
    assert time_limited.driver.returncode == 0 and "1 done now" in out, out
    assert re.search(rf"^{BACKGROUND}limit runs: .* 1 requeued", out, re.M), out
    sweep = load_sweep(time_limited.path)
    events = [(a["event"], a["restarts"]) for a in attempts(sweep, sweep.runs[0])]
    assert events[:3] == [("started", 0), ("requeued", 0), ("started", 1)] and events[-1][0] == "ended", events


def test_a_slurm_sweep_pretrains_its_upstream_first_and_its_records_equal_the_local_launchers(slurm, pair, tmp_path):
    from rftlib.sweep import load_sweep

    out = pair.finish()
    assert pair.driver.returncode == 0, out
    assert "2 done now, 0 already done, 0 failed" in out and "reports: 1 done, 0 failed" in out
    sweep = load_sweep(pair.path)
    (pretraining,), tasks = registry(sweep)["upstreams"].values(), list(registry(sweep)["runs"].values())
    array = tasks[0].split("_")[0]
    assert f"submitted upstream pretraining as SLURM job {pretraining}" in out
    assert tasks == [f"{array}_0", f"{array}_1"] and f"submitted 2 runs as SLURM job {array}" in out
    script = (sweep.root / "slurm" / "submitit" / f"{array}_submission.sh").read_text()
    assert f"#SBATCH --dependency=afterany:{pretraining}" in script and "#SBATCH --array=0-1%2" in script
    (weights,) = Path(sweep.runs[0].config["upstream"]["output_dir"]).rglob("backbone.safetensors")
    first_start = min(a["time"] for run in sweep.runs for a in attempts(sweep, run))
    assert weights.stat().st_mtime < first_start  # the runs started once the backbone was there
    untouched = sweep.runs[1]  # (the other run's records are the next test's)
    assert [a["event"] for a in attempts(sweep, untouched)] == ["started", "ended"]
    assert records_of(untouched) == reference_records(untouched, tmp_path)
    assert (sweep.root / "reports" / "tiny_report.html").exists()


def test_sigusr2_and_a_plain_requeue_mid_run_resume_it_with_identical_records(slurm, pair, tmp_path):
    from rftlib.sweep import load_sweep

    out = pair.finish()
    assert pair.driver.returncode == 0, out
    assert re.search(rf"^{BACKGROUND}pair runs: .* 1 requeued", out, re.M), out  # shown while it waited
    sweep = load_sweep(pair.path)
    stopped = sweep.runs[0]
    events = [(a["event"], a["restarts"]) for a in attempts(sweep, stopped)]
    assert events == [("started", 0), ("requeued", 0), ("started", 1), ("killed", 1), ("started", 2), ("ended", 2)]
    steps = [r["step"] for r in records_of(stopped)]
    assert steps == list(range(0, 65, 8)), steps  # resumed: no step missing or repeated
    assert records_of(stopped) == reference_records(stopped, tmp_path)
