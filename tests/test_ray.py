"""`rft sweep --launcher ray` against a real local Ray cluster that the tests start (one per session)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from rftlib.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="session")
def ray_address():
    """A 2-CPU local Ray cluster (GCS, raylet, workers) for the whole session; its address."""
    ray = pytest.importorskip("ray")
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    context = ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, logging_level="WARNING",
                       log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


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
