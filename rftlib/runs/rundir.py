"""One writer per run directory, and what state a run directory is in.

A run holds an OS-level lock (``fcntl.flock`` on ``<run_dir>/lock``) for its whole life: a second
process asked to write the same run refuses with one line naming the holder's PID. The operating
system drops the lock when its holder dies, however it dies, so a lock left by a killed run is simply
taken over; nothing stale has to be cleaned up by hand. (Linux and macOS; on a network file system
the lock is as good as its ``flock`` support.)

A run directory is ``done`` (the marker written last), ``failed`` (the run raised, a resume was
refused, or a sweep's notebook for it failed before the run began; the ``failed`` file holds the reason,
and a new attempt removes it), ``running`` (unfinished and locked now) or ``unfinished`` (killed, or
never finished). ``run_status`` is the one reader of these, for the reports (``rftlib.analysis.results``) and the
sweep's index alike. Light to import (no torch).
"""
from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import yaml

from rftlib.core.atomic import atomic_write_text
from rftlib.core.disk import check_writable_dir, disk_problem
from rftlib.core.errors import RftError
from rftlib.runs.records import CONFIG, DONE, RECORDS

LOCK, FAILED, CHECKPOINT = "lock", "failed", "checkpoint.pt"
STATUSES = ("done", "failed", "running", "unfinished")

try:
    import fcntl
except ImportError:  # Windows: runs are not locked there
    fcntl = None


class RunInUse(RftError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """The exclusive lock of one run directory (see the module docstring). Use as a context manager,
    or ``acquire()`` / ``release()``. The lock's file descriptor is not inherited by programs the run
    starts, so only this process (and its forks) hold it."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as error:
            problem = disk_problem(error, self.path, "creating", write_failed=False)
            raise problem or RftError(f"cannot create the lock file {self.path}: {error.strerror or error}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise RftError(f"cannot lock {self.path}: {error.strerror or error}") from None
                raise RunInUse(f"{self.path.parent} is in use by {holder(self.path.parent) or 'another process'}; "
                               f"one run directory has one writer (wait for it, or stop that process)") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError as error:  # a full disk
            os.close(fd)
            problem = disk_problem(error, self.path, "writing", write_failed=False)
            raise problem or RftError(f"cannot write the lock file {self.path}: {error.strerror or error}") from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (unlinking it would race)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder(run_dir: str | Path) -> str | None:
    """"process 1234 on host" as the lock file names its last holder, or None."""
    try:
        pid, _, host = (Path(run_dir) / LOCK).read_text().strip().partition(" ")
    except OSError:
        return None
    return f"process {pid}" + (f" on {host}" if host else "") if pid else None


def is_locked(run_dir: str | Path) -> bool:
    """Whether a live process holds the run's lock now."""
    path = Path(run_dir) / LOCK
    if fcntl is None or not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock just taken


def started(run_dir: str | Path) -> bool:
    """Whether a run ever started in ``run_dir`` (it recorded, checkpointed or finished something)."""
    return any((Path(run_dir) / name).exists() for name in (RECORDS, CHECKPOINT, DONE))


def run_status(run_dir: str | Path) -> str:
    """One of STATUSES (see the module docstring)."""
    run_dir = Path(run_dir)
    if (run_dir / DONE).exists():
        return "done"
    if (run_dir / FAILED).exists():
        return "failed"
    return "running" if is_locked(run_dir) else "unfinished"


def failure_reason(run_dir: str | Path) -> str | None:
    try:
        return (Path(run_dir) / FAILED).read_text().strip() or None
    except OSError:
        return None


@contextlib.contextmanager
def failure_recorded(run_dir: str | Path) -> Iterator[None]:
    """Run a block; if it raises (not an interrupt: a stopped run is unfinished, not failed), leave
    ``<run_dir>/failed`` with the error's first line, so no reader mistakes the run for a result. A raw
    error of a full or read-only disk becomes one line naming the mount (``rftlib.core.disk``); where even the
    reason no longer fits on the disk, the marker stays empty and the raised error says it."""
    path = Path(run_dir) / FAILED
    path.unlink(missing_ok=True)
    try:
        yield
    except Exception as error:
        # A library's own writer (not rftlib.core.atomic) may fail on a full disk with a raw OSError: one line.
        problem = disk_problem(error, run_dir, "writing in", write_failed=False)
        reason = problem or error
        lines = str(reason).strip().splitlines()
        try:
            atomic_write_text(path, f"{type(reason).__name__}: {lines[0] if lines else ''}\n")
        except Exception:  # the disk is still full: the marker alone (the raised error says why)
            with contextlib.suppress(OSError):
                path.touch()
        if problem is not None:
            raise problem from None
        raise


def make_run_dir(run_dir: str | Path, what: str = "run directory") -> Path:
    """Create ``run_dir`` (and its parents); an unusable path is one RftError line naming ``what``."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = disk_problem(error, run_dir, "creating", write_failed=False)  # read-only or full: name the mount
        raise problem or RftError(f"cannot create the {what} {run_dir}: {error.strerror or error}") from None
    check_writable_dir(run_dir, what)
    return run_dir


def claim(run_dir: str | Path, config) -> RunLock:
    """Create ``run_dir``, take its lock (held until released: the run's whole life) and pin the
    run's configuration in ``config.yaml``. A directory holding another configuration is refused,
    unless no run ever started there (a run that stopped before its first record pins nothing).
    ``config``: the resolved ``RunConfig``."""
    from rftlib.runs.config import RunConfig, dump_yaml

    run_dir = make_run_dir(run_dir)
    lock = RunLock(run_dir).acquire()
    try:
        path = run_dir / CONFIG
        identity = RunConfig.identity(config.to_dict())
        if path.exists() and started(run_dir):
            try:
                stored = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError) as error:
                raise RftError(f"cannot read {path}: {' '.join(str(error).split())}") from None
            stored_identity = RunConfig.identity(stored)
            if stored_identity != identity:
                changed = sorted(k for k in set(identity) | set(stored_identity)
                                 if identity.get(k) != stored_identity.get(k))
                raise RftError(f"{run_dir} holds a run with a different configuration (differs in: "
                               f"{', '.join(changed)}); choose another run directory")
        else:
            atomic_write_text(path, dump_yaml(config.to_dict()))
    except BaseException:
        lock.release()
        raise
    return lock


__all__ = ["claim", "CONFIG", "FAILED", "LOCK", "RunInUse", "RunLock", "STATUSES", "failure_recorded",
           "failure_reason", "holder", "is_locked", "make_run_dir", "run_status", "started"]
