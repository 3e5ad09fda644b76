"""A sweep's runs mirrored into MLflow by the sweep's driver, as they write; and, once its reports are made,
one sweep-level MLflow run holding them (``SweepRun``: the rendered reports, the index page, and every run's
WiSE-FT α-curve as a table), whose id and the experiment's the sweep's folder keeps in ``mlflow.json``.

One process writes, whatever the launcher: local workers (``--jobs N``) and Ray tasks only write their
run directories (the files stay the source of truth; Ray needs them on a shared file system anyway),
and a thread of ``rft sweep`` mirrors each directory that changed every ``POLL_SECONDS``, and each run
once more as it ends, with its rendered notebook. So MLflow's import and store (seconds of CPU per
process, see BENCHMARKS.md) are paid once per sweep rather than once per run, and a sqlite store never
has two writers. The experiment is the sweep's name unless the sweep's ``tracking`` names one.
"""
from __future__ import annotations

import json
import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
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


class SweepRun:
    """The sweep-level MLflow run (name "sweep · NAME", tag ``role: sweep``): found through the id in the sweep's
    folder or created; ``attach`` logs the reports and tables to it. Never fails a sweep: a store that cannot be
    used is one TrackingWarning and ``open`` returns None."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id

    @classmethod
    def open(cls, options: TrackingOptions, name: str, root: Path) -> "SweepRun | None":
        from mlflow.exceptions import MlflowException

        from rftlib.tracking.links import ID_FILE, read_ids, sweep_ids
        from rftlib.tracking.store import experiment_id, open_client, retried
        from rftlib.core.atomic import atomic_write_text

        uri = store_uri(options.uri)
        try:
            client = open_client(uri)
            experiment = experiment_id(client, options.experiment or name)
            known = sweep_ids(root, uri).get("run_id")
            run = None
            if known:
                try:
                    run = retried(client.get_run, known)
                except MlflowException:
                    run = None
                if run is not None and run.info.lifecycle_stage == "deleted":
                    run = None
            if run is None:
                run = retried(client.create_run, experiment, run_name=f"sweep · {name}",
                              tags={"role": "sweep", "rft.sweep": name, "rft.sweep_dir": str(Path(root).resolve())})
            ids = {**read_ids(root), uri: {"experiment_id": experiment, "run_id": run.info.run_id}}
            Path(root).mkdir(parents=True, exist_ok=True)
            atomic_write_text(Path(root) / ID_FILE, json.dumps(ids, indent=1) + "\n")
            return cls(client, run.info.run_id)
        except Exception as error:
            warnings.warn(f"MLflow: the sweep's reports are not attached ({uri}): {first_line(error)}",
                          TrackingWarning, stacklevel=2)
            return None

    def attach(self, files: Sequence[Path], run_dirs: Sequence[Path]) -> int:
        """Log ``files`` (reports, the index) under ``reports/`` and each run's WiSE-FT α-curve as the table
        ``wise_ft/<run>.json``; end the run FINISHED. Returns how many artifacts were logged."""
        from rftlib.tracking.mirror import wise_ft_table
        from rftlib.tracking.store import retried

        logged = 0
        try:
            for path in files:
                if Path(path).exists():
                    retried(self.client.log_artifact, self.run_id, str(path), "reports")
                    logged += 1
            for run_dir in run_dirs:
                curve = Path(run_dir) / "wise_ft.jsonl"
                if curve.exists():
                    retried(self.client.log_table, self.run_id, wise_ft_table(curve), f"wise_ft/{Path(run_dir).name}.json")
                    logged += 1
            retried(self.client.set_terminated, self.run_id, status="FINISHED")
        except Exception as error:
            warnings.warn(f"MLflow: attaching the sweep's reports stopped: {first_line(error)}", TrackingWarning,
                          stacklevel=2)
        return logged


def publish_reports(sweep, write_index: Callable[[Any], Path]) -> Path:
    """Write the sweep's index page with ``write_index`` and, when the sweep is tracked, attach it and the
    rendered reports (and every run's WiSE-FT table) to the sweep-level MLflow run, opened first so that the
    index can link it. Returns the index's path. ``sweep``: a ``rftlib.sweep.spec.Sweep``."""
    tracking = getattr(sweep, "tracking", None)
    sweep_run = SweepRun.open(tracking, sweep.name, sweep.root) if tracking is not None else None
    index = write_index(sweep)
    if sweep_run is not None:
        reports = [job.output.with_suffix(suffix) for job in sweep.reports for suffix in (".html", ".ipynb")]
        sweep_run.attach([*reports, index], [job.directory for job in sweep.runs])
    return index


__all__ = ["POLL_SECONDS", "SweepMirror", "SweepRun", "publish_reports", "sweep_mirror"]
