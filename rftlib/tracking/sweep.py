"""A sweep's runs mirrored into MLflow by the sweep's driver, as they write.

One process writes, whatever the launcher: local workers (``--jobs N``) and Ray tasks only write their
run directories (the files stay the source of truth; Ray needs them on a shared file system anyway),
and a thread of ``rft sweep`` mirrors each directory that changed every ``POLL_SECONDS``, and each run
once more as it ends, with its rendered notebook. So MLflow's import and store (seconds of CPU per
process, see BENCHMARKS.md) are paid once per sweep rather than once per run, and a sqlite store never
has two writers. The experiment is the sweep's name unless the sweep's ``tracking`` names one.
"""
from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rftlib.runs.records import DONE, RECORDS
from rftlib.runs.rundir import FAILED
from rftlib.tracking.live import TrackingWarning, first_line
from rftlib.runs.tracking_options import TrackingOptions, store_uri

POLL_SECONDS = 2.0


def _stamp(run_dir: Path) -> tuple:
    """What changes when a run directory has something new to mirror."""
    stamp = []
    for name in (RECORDS, DONE, FAILED):
        try:
            stat = (run_dir / name).stat()
            stamp.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


class SweepMirror:
    """Mirrors ``runs`` (name -> (run directory, executed notebook)) while a sweep runs them: ``start``,
    ``follow`` the launcher's outcomes, ``close``."""

    def __init__(self, options: TrackingOptions, experiment: str, runs: dict[str, tuple[Path, Path]]):
        self.uri = store_uri(options.uri)
        self.experiment = options.experiment or experiment
        self.runs = runs
        self.ended: queue.Queue[str] = queue.Queue()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.mirrored: dict[str, dict[str, int]] = {}  # what was added per run, for tests and logs
        self._thread = threading.Thread(target=self._work, name="rft-mlflow-mirror", daemon=True)
        self._client = None

    def start(self) -> "SweepMirror":
        self._thread.start()
        return self

    def follow(self, outcomes: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The launcher's outcomes, passed on; each ended run is mirrored once more, with its notebook."""
        for outcome in outcomes:
            self.ended.put(outcome["name"])
            yield outcome

    def close(self) -> None:
        """Mirror every run as it is now (with notebooks) and stop."""
        self.stop.set()
        self._thread.join()

    # ---- the mirroring thread -----------------------------------------------------------------
    def _sync(self, mirrors: dict, name: str, with_notebook: bool) -> None:
        from rftlib.tracking.mirror import RunMirror

        run_dir, notebook = self.runs[name]
        mirror = mirrors.get(name) or RunMirror(self._client, run_dir, self.experiment)
        added = mirror.sync(notebook if with_notebook else None)
        if added is not None:
            mirrors[name] = mirror
            total = self.mirrored.setdefault(name, {"records": 0, "summary": 0, "notebook": 0})
            for key, count in added.items():
                total[key] += count

    def _work(self) -> None:
        from rftlib.tracking.store import open_client

        mirrors: dict[str, Any] = {}
        stamps: dict[str, tuple] = {}
        try:
            self._client = open_client(self.uri)
            while True:
                stopping = self.stop.wait(POLL_SECONDS)
                while not self.ended.empty():
                    name = self.ended.get()
                    if name in self.runs:
                        self._sync(mirrors, name, with_notebook=True)
                        stamps[name] = _stamp(self.runs[name][0])
                for name, (run_dir, _) in self.runs.items():
                    stamp = _stamp(run_dir)
                    if stopping or stamp != stamps.get(name, (None, None, None)):
                        self._sync(mirrors, name, with_notebook=stopping)
                        stamps[name] = stamp
                if stopping:
                    return
        except Exception as error:  # never the sweep's failure: one line, and `rft track` later
            self.error = error
            warnings.warn(f"MLflow tracking of the sweep stopped ({self.uri}): {first_line(error)}; the runs go on "
                          f"and their files are complete (`rft track` logs them later)", TrackingWarning, stacklevel=1)


def sweep_mirror(tracking: TrackingOptions | None, name: str, runs: Sequence) -> SweepMirror | None:
    """The mirror of a sweep named ``name`` with jobs ``runs`` (``rftlib.sweep.jobs.Job``), None when the
    sweep does not track."""
    if tracking is None:
        return None
    return SweepMirror(tracking, name, {job.name: (job.directory, job.output) for job in runs})


__all__ = ["POLL_SECONDS", "SweepMirror", "sweep_mirror"]
