"""Progress bars that stay readable where the output is a log, not a terminal.

On a terminal and in a notebook this is tqdm as usual. Written to a file or a pipe (``make demo >
log``, a batch job, a Ray worker's log), a bar's carriage-return redraws pile up on one line, megabytes
long; there it prints a whole line when it starts, at most one every ``LOG_INTERVAL`` seconds,
and one when it ends.
"""
from __future__ import annotations

import sys
from typing import IO

from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm as auto_tqdm

LOG_INTERVAL = 60.0  # seconds between lines in a log
LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}]{postfix}"


class _Lines:
    """A stream for tqdm that turns each redraw (``\\r`` + bar) into one line."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel, where tqdm.auto draws a widget."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def progress_bar(*, total: int | None, desc: str, initial: int = 0, unit: str = "it", disable: bool = False,
                 file: IO[str] | None = None):
    """A tqdm bar (same methods: update, set_postfix, write, close; a context manager) for
    ``file`` (default stderr): redrawn in place on a terminal or in a notebook, else whole lines
    at most every ``LOG_INTERVAL`` seconds."""
    stream = file if file is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if disable or _in_notebook() or (isatty is not None and isatty()):
        return auto_tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=disable, file=file,
                         dynamic_ncols=True)
    return text_tqdm(total=total, initial=initial, desc=desc, unit=unit, file=_Lines(stream),
                     mininterval=LOG_INTERVAL, maxinterval=LOG_INTERVAL, bar_format=LOG_FORMAT)
