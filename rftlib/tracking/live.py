"""The tracker a running ``finetune`` logs to when its configuration has ``tracking``.

Tracking never breaks a run: the first thing that fails (the store unreachable, locked beyond the
retries, broken) is one warning line, and the run goes on untracked with its files complete;
``rft track`` mirrors them afterwards. A resumed run continues its MLflow run (``mirror``), first
logging whatever its directory holds that MLflow does not.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rftlib.runs.records import RECORDS, read_records
from rftlib.runs.rundir import failure_reason
from rftlib.runs.tracking_options import default_experiment, store_uri, tracking_options


class TrackingWarning(UserWarning):
    """Tracking stopped for a run; the run itself goes on."""


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


class Tracker:
    """Mirrors one run while it trains: ``start``, ``record`` after each evaluation, ``end``."""

    def __init__(self, options: dict[str, Any], run_dir: str | Path, config: dict[str, Any]):
        checked = tracking_options(options)
        self.run_dir, self.config = Path(run_dir), config
        self.uri = store_uri(checked.uri)
        self.experiment = checked.experiment or default_experiment(self.run_dir)
        self.mirror = None

    def _off(self, error: BaseException) -> None:
        self.mirror = None
        warnings.warn(f"MLflow tracking of {self.run_dir.name} stopped ({self.uri}): {first_line(error)}; the run goes "
                      f"on and its files are complete (`rft track {self.run_dir.parent}` logs it later)",
                      TrackingWarning, stacklevel=3)

    def start(self) -> "Tracker":
        from rftlib.tracking.mirror import RunMirror
        from rftlib.tracking.store import open_client

        try:
            self.mirror = RunMirror(open_client(self.uri), self.run_dir, self.experiment).open(self.config)
            self.mirror.log_records(read_records(self.run_dir / RECORDS))  # a resumed run: what MLflow misses
            self.mirror.set_status("running")
        except Exception as error:
            self._off(error)
        return self

    def record(self, record: dict[str, Any]) -> None:
        """Log one evaluation's record (a step MLflow holds already is skipped)."""
        if self.mirror is None:
            return
        try:
            self.mirror.log_records([record])
        except Exception as error:
            self._off(error)

    def end(self, status: str) -> None:
        """``done`` (the summary and its files too), ``failed`` (with the reason the run directory
        records) or ``unfinished`` (interrupted)."""
        if self.mirror is None:
            return
        try:
            if status == "done":
                self.mirror.log_summary()
            self.mirror.set_status(status, failure_reason(self.run_dir) if status == "failed" else None)
        except Exception as error:
            self._off(error)


class NoTracker:
    """What an untracked run logs to: nothing."""

    def record(self, record: dict[str, Any]) -> None:
        pass


@contextlib.contextmanager
def tracked(options: dict[str, Any] | None, run_dir: str | Path, config: dict[str, Any]) -> Iterator[Tracker | NoTracker]:
    """The run's tracker for a block that trains it (``options``: its ``tracking``; None: none). Leaving
    the block normally ends the MLflow run FINISHED, by an exception FAILED (enter this block outside
    ``rundir.failure_recorded``, which writes the reason first), by an interrupt KILLED."""
    if options is None:
        yield NoTracker()
        return
    tracker = Tracker(options, run_dir, config).start()
    try:
        yield tracker
    except Exception:
        tracker.end("failed")
        raise
    except BaseException:
        tracker.end("unfinished")
        raise
    tracker.end("done")


__all__ = ["NoTracker", "Tracker", "TrackingWarning", "tracked"]
