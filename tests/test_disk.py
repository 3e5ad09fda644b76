"""A full or read-only disk: one line naming the mount, nothing half-written left behind, and a run
that resumes exactly once space is free. Real file systems: a small tmpfs mounted by the test (needs
root and the right to mount; skipped cleanly where either is missing)."""
import contextlib
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import yaml

from rftlib import finetune
from rftlib.cli import main
from rftlib.core.disk import DiskError, mount_point
from rftlib.runs.records import read_records
from rftlib.runs.rundir import failure_reason, make_run_dir, run_status
from training_helpers import tiny_config, without_timing


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str, read_only: bool = False):
    where.mkdir(parents=True, exist_ok=True)
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(path: Path, leave: int = 0) -> None:
    """Write ``path`` until the disk holds at most ``leave`` free bytes (0: until it is full)."""
    with open(path, "wb") as handle:
        try:
            while True:
                stats = os.statvfs(path.parent)
                free = stats.f_bavail * stats.f_frsize
                if free <= leave:
                    break
                handle.write(b"\0" * min(1 << 20, free - leave))
                handle.flush()
        except OSError:  # ENOSPC: full
            pass


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.slow
def test_full_disk_one_line_no_tmp_file_and_exact_resume(tmp_path, capsys):
    # Two blocks instead of twelve: the same files, a sixth of the compute.
    config = tiny_config(max_steps=8, schedule=[[None, 4]], model_kwargs={"img_size": 16, "patch_size": 4, "depth": 2})
    reference = finetune(config, run_dir=tmp_path / "reference", progress=False)
    checkpoint = (tmp_path / "reference" / "checkpoint.pt").stat().st_size  # with the optimiser's state
    weights = (tmp_path / "reference" / "trainable.safetensors").stat().st_size  # ~ the step-0 checkpoint

    with mounted_tmpfs(tmp_path / "disk", "32m") as disk:
        run_dir = disk / "run"
        # Room for the step-0 checkpoint and one later one, not for a later one beside the one it replaces.
        _fill(disk / "filler", leave=checkpoint + weights // 2)
        with pytest.raises(DiskError) as raised:
            finetune(config, run_dir=run_dir, progress=False)
        message = _one_line(str(raised.value))
        assert message.startswith(f"disk full: {disk} has ") and "left" in message, message
        assert "During handling" not in "".join(traceback.format_exception(raised.value))  # not chained
        assert not list(run_dir.rglob("*.tmp")), "a failed atomic write left its temporary file"
        assert run_status(run_dir) == "failed"
        assert failure_reason(run_dir) == f"DiskError: {message}"  # the tmp file's space was enough for it
        written = read_records(run_dir / "records.jsonl")
        assert 1 <= len(written) < 3
        assert without_timing(written) == without_timing(reference.records)[:len(written)]

        # Again on the still-full disk, from the command line: one line naming the disk, exit status 2.
        _fill(disk / "filler2")
        config_file = tmp_path / "config.yaml"
        config_file.write_text(yaml.safe_dump(config))
        capsys.readouterr()
        assert main(["run", str(config_file), "--run-dir", str(run_dir), "--no-progress"]) == 2
        error = _one_line(capsys.readouterr().err)
        assert error.startswith(f"rft run: error: disk full: {disk} has "), error
        assert not list(run_dir.rglob("*.tmp"))
        assert run_status(run_dir) == "failed"

        # Space freed: the run resumes and ends with the records of an uninterrupted run.
        (disk / "filler").unlink()
        (disk / "filler2").unlink()
        resumed = finetune(config, run_dir=run_dir, progress=False)
        assert run_status(run_dir) == "done"
        assert without_timing(resumed.records) == without_timing(reference.records)


def test_read_only_disk_is_named_not_permission_denied(tmp_path, capsys):
    with mounted_tmpfs(tmp_path / "ro", "1m", read_only=True) as disk:
        assert mount_point(disk / "a" / "b") == disk
        for target in (disk, disk / "runs" / "x"):  # an existing directory, one that would be created
            with pytest.raises(DiskError) as raised:
                make_run_dir(target)
            message = _one_line(str(raised.value))
            assert f"{disk} is mounted read-only" in message and "permission" not in message, message
        config_file = tmp_path / "config.yaml"
        config_file.write_text(yaml.safe_dump(tiny_config()))
        assert main(["run", str(config_file), "--run-dir", str(disk / "run"), "--no-progress"]) == 2
        error = _one_line(capsys.readouterr().err)
        assert error.startswith("rft run: error: cannot ") and f"{disk} is mounted read-only" in error, error


def test_a_failed_write_leaves_no_tmp_file_and_keeps_the_old_file(tmp_path):
    from rftlib.core.atomic import atomic_write, atomic_write_text

    target = atomic_write_text(tmp_path / "summary.json", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("writer broke")

    with pytest.raises(RuntimeError, match="writer broke"):  # not a disk problem: the error as it was
        atomic_write(target, broken)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
