"""`rft sweep --launcher ray` against a real local Ray cluster that the tests start (one per session)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from rftlib.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="session")
def ray_cluster():
    """A real multi-node Ray cluster on this machine for the whole session (Ray's own
    ``cluster_utils.Cluster``): a head without CPUs (it runs no tasks) and one 2-CPU worker node.
    Tests may swap the worker node for another; the cluster keeps 2 CPUs on one worker node."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    # No metrics agent to wait for: on a busy 2-core machine a node may not start within Ray's 30 s otherwise.
    os.environ.setdefault("RAY_enable_metrics_collection", "0")
    # The cluster's address file goes here, not to the machine-wide /tmp/ray (other Ray users' ray.init()).
    os.environ["RAY_TMPDIR"] = temp_dir
    os.makedirs(os.path.join(temp_dir, "ray"), exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "temp_dir": temp_dir,
                                                            "include_dashboard": False})
    cluster.temp_dir = temp_dir
    cluster.add_node(num_cpus=2, temp_dir=temp_dir)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()
    del os.environ["RAY_TMPDIR"]
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def ray_address(ray_cluster):
    return ray_cluster.address


def rft_sweep(*args: str) -> subprocess.CompletedProcess:
    """`rft sweep ...` as a separate driver process, as a user would start it."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([sys.executable, "-m", "rftlib.cli", "sweep", *args, "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)


def test_two_run_sweep_on_a_ray_cluster(ray_address, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "notebook": str(ROOT / "tests" / "notebooks" / "tiny_run.ipynb"), "output_dir": str(tmp_path / "out"),
        "grid": {"x": [3, 4]}, "resources": {"cpus": 1},
        "reports": {str(ROOT / "tests" / "notebooks" / "tiny_report.ipynb"): {}}}))
    done = rft_sweep(str(path), "--launcher", "ray", "--address", ray_address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 done now, 0 already done, 0 failed" in done.stdout
    sweep = load_sweep(path)
    assert [run.status() for run in sweep.runs] == ["done", "done"]
    assert all(run.output.with_suffix(".html").exists() for run in sweep.runs)
    assert (sweep.root / "reports" / "tiny_report.html").exists()

    again = rft_sweep(str(path), "--launcher", "ray", "--address", ray_address)
    assert again.returncode == 0 and "0 done now, 2 already done" in again.stdout


def test_a_run_on_a_lost_node_is_retried_elsewhere_and_resumes(ray_cluster, tmp_path):
    """The worker node dies mid-run; Ray reruns the task on the node that is left, the run resumes
    from its checkpoint, and its records equal an uninterrupted run's."""
    from rftlib import finetune
    from rftlib.runs.records import read_records
    from training_helpers import tiny_config, without_timing

    # Long enough that the node is lost well before the run could finish: 25 evaluations, and ~4 s of
    # the kernel's CPU after the third (the tiny model trains a step in ~25 ms).
    config = tiny_config(max_steps=192, schedule=[[None, 8]], upstream=None)
    path = tmp_path / "lost.yaml"
    path.write_text(yaml.safe_dump({
        "notebook": str(ROOT / "notebooks" / "rq1_tradeoff.ipynb"), "output_dir": str(tmp_path / "out"),
        "reports": {}, "resources": {"cpus": 1, "retries": 1},
        "parameters": {"profile": "demo", **config}, "grid": {"seed": [0]}}))
    run = load_sweep(path).runs[0]
    driver = subprocess.Popen([sys.executable, "-m", "rftlib.cli", "sweep", str(path), "--launcher", "ray",
                               "--address", ray_cluster.address, "--no-progress"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        records = run.directory / "records.jsonl"
        deadline = time.monotonic() + 240
        while not (records.exists() and len(records.read_text().splitlines()) >= 3):
            assert driver.poll() is None and time.monotonic() < deadline, "the run never got going"
            time.sleep(0.2)
        first_writer = (run.directory / "lock").read_text().split()[0]
        ray_cluster.remove_node(next(iter(ray_cluster.worker_nodes)))  # its raylet and workers die
        assert not (run.directory / "done").exists()
        ray_cluster.add_node(num_cpus=2, temp_dir=ray_cluster.temp_dir)  # where the retry can go
        out, _ = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0 and "1 done now" in out, out
    assert (run.directory / "lock").read_text().split()[0] != first_writer  # another process finished it
    steps = [r["step"] for r in read_records(records)]
    assert steps == list(range(0, 193, 8)), steps  # resumed: no step missing or repeated
    reference = finetune({k: v for k, v in run.config.items() if k != "upstream"}, run_dir=tmp_path / "ref",
                         progress=False)
    assert without_timing(read_records(records)) == without_timing(reference.records.to_dict("records"))
