"""Atomic file writes: a temporary file beside the target, synced to disk, then renamed over it, so a
reader never sees half a file and a run killed at any moment leaves the previous version intact.
A write that fails leaves no temporary file behind; one that fails because the disk is full or
read-only raises one line naming the disk (``rftlib.core.disk``). Light to import (standard library only)."""
from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path

from rftlib.core.disk import disk_problem


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to fill ``<path>.tmp``, sync it, and rename it to ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        problem = disk_problem(error, tmp)  # before the tmp file goes: removing it frees space
        if problem is None:
            _remove(tmp)
            raise
    else:
        return path
    # Out of the except block, the failed writer's frames are released (and with them an open handle on
    # the tmp file: torch.save keeps one), so removing it really frees its space; the disk error then
    # raises alone, not chained to the library's.
    gc.collect()
    _remove(tmp)
    raise problem


def _remove(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only disk: nothing was written there either


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


__all__ = ["atomic_write", "atomic_write_text"]
