"""Work that several xdist workers would each redo, done once per session: the first worker to ask
makes it in a folder all workers share, under a file lock; the others wait for it and read it."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def made_once(tmp_path_factory, name: str) -> Iterator[tuple[Path, bool]]:
    """Yields ``(folder, done)``: ``done`` False for the one caller that must make the files (it holds
    the lock meanwhile), True for every later one. The folder is the session's (each worker's basetemp
    is a child of it under xdist). A maker that raises leaves nothing marked done."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / ".made"
    fd = os.open(folder.with_name(name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        done = marker.exists()
        yield folder, done
        marker.touch()
    finally:
        os.close(fd)
