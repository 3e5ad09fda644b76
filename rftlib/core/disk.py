"""What a failed write says about the disk: full, or mounted read-only, as one line naming the mount.

A full disk shows up in many shapes: ``OSError(ENOSPC)`` from Python's own writes, but a bare
``RuntimeError("... unexpected pos ...")`` from ``torch.save``, whose C++ writer drops the errno. So
besides the error's errno this module looks at the file system itself (``os.statvfs``): after a failed
write, a file system with (almost) no space left is the cause. A read-only mount answers EROFS to a
create but EACCES to ``os.access`` (``ST_RDONLY`` tells the two apart). Light to import (standard
library only).
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from rftlib.core.errors import RftError

# Below this much space left after a failed write, the disk is taken as full: a writer that hits the
# end of the disk leaves at most a partly filled block or write buffer behind.
FULL_BELOW = 1 << 20
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskError(RftError):
    """A write failed because the disk is full or mounted read-only (the message names the mount)."""


def existing_ancestor(path: str | Path) -> Path:
    """``path`` or its nearest existing parent."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def mount_point(path: str | Path) -> Path:
    """The mount point of the file system holding ``path`` (or, if it does not exist yet, its parent)."""
    path = existing_ancestor(path)
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: str | Path) -> int | None:
    """Space available to unprivileged writers on ``path``'s file system (``df``'s Avail); None if unknown."""
    try:
        stats = os.statvfs(existing_ancestor(path))
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def is_read_only(path: str | Path) -> bool:
    """Whether ``path``'s file system is mounted read-only."""
    try:
        return bool(os.statvfs(existing_ancestor(path)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def size_text(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # the loop always returns


def _errnos(error: BaseException) -> set[int]:
    """The errnos of ``error`` and of the errors it was raised from or during."""
    found, seen = set(), set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno is not None:
            found.add(error.errno)
        error = error.__cause__ or error.__context__
    return found


def disk_problem(error: BaseException, path: str | Path, doing: str = "writing", *,
                 write_failed: bool = True) -> DiskError | None:
    """A one-line DiskError if ``error`` (raised while ``doing`` ``path``) came from a full or read-only
    disk, else None. ``write_failed``: the error came from a write, so a disk found (almost) full is its
    cause even without an errno (torch.save); otherwise only the errno counts. Call it before removing
    what the failed write left: that frees space again."""
    if isinstance(error, DiskError):
        return error
    if not isinstance(error, Exception):  # an interrupt is not a disk problem
        return None
    codes = _errnos(error)
    mount = mount_point(path)
    if errno.EROFS in codes or (codes & {errno.EACCES, errno.EPERM} and is_read_only(path)):
        return DiskError(f"cannot write {path}: {mount} is mounted read-only; choose an output directory "
                         f"on a writable disk")
    free = free_bytes(path)
    if codes & set(_FULL_ERRNOS) or (write_failed and free is not None and free < FULL_BELOW):
        left = f"{size_text(free)} left" if free is not None else "no space left"
        return DiskError(f"disk full: {mount} has {left}; {doing} {path} failed. Free some space and run again "
                         f"(a run resumes from its last checkpoint)")
    return None


def check_writable_dir(path: str | Path, what: str) -> None:
    """RftError (one line) when the directory ``path`` cannot be written: its mount is read-only, or
    permission is denied."""
    if os.access(path, os.W_OK | os.X_OK):
        return
    if is_read_only(path):
        raise DiskError(f"cannot write in the {what} {path}: {mount_point(path)} is mounted read-only")
    raise RftError(f"cannot write in the {what} {path}: permission denied")


__all__ = ["DiskError", "check_writable_dir", "disk_problem", "free_bytes", "is_read_only", "mount_point"]
