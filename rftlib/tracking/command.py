"""``rft track OUTPUT_DIR [--uri URI] [--experiment NAME]``: log existing run directories to MLflow.

Every run directory under OUTPUT_DIR (a folder holding ``config.yaml`` and records) is brought up to date in its
MLflow run: created when missing, then the records, the summary, the rendered notebook and the status
it lacks. Idempotent: a second call adds nothing. A run another process is writing now is left to that
process (a tracked run or a tracking sweep mirrors it already; otherwise track it once it ends).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from rftlib.core.errors import RftError
from rftlib.runs.records import CONFIG

NOTEBOOK = "notebook.ipynb"  # a sweep run's executed notebook (rftlib.sweep.spec)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", help="a folder of run directories, or one run directory (searched recursively)")
    parser.add_argument("--uri", default=None,
                        help="the tracking store (default: $MLFLOW_TRACKING_URI, else outputs/mlflow.db)")
    parser.add_argument("--experiment", default=None,
                        help="the MLflow experiment of runs new to the store (default: the name of the folder "
                             "holding each run directory, a sweep's name for a sweep's runs)")


def run_directories(root: Path) -> list[Path]:
    """The run directories under ``root`` (itself included) where a run started, in path order (a copy
    of a config.yaml among MLflow's artifacts is no run)."""
    from rftlib.runs.rundir import started

    return sorted(path.parent for path in root.rglob(CONFIG) if started(path.parent))


def command(args: argparse.Namespace) -> int:
    from rftlib.runs.tracking_options import default_experiment, store_uri, tracking_options

    options = tracking_options({"uri": args.uri, "experiment": args.experiment}, "rft track option")
    root = Path(args.output_dir)
    if not root.is_dir():
        raise RftError(f"output directory not found: {root}")
    runs = run_directories(root)
    if not runs:
        raise RftError(f"no run directories (with a {CONFIG}) under {root}")
    uri = store_uri(options.uri)

    from rftlib.runs.rundir import is_locked
    from rftlib.tracking.mirror import RunMirror
    from rftlib.tracking.store import TrackingUnavailable, open_client

    try:
        client = open_client(uri)
    except TrackingUnavailable as error:
        raise RftError(str(error)) from None
    totals = {"runs": 0, "records": 0, "summary": 0, "notebook": 0, "busy": 0}
    for run_dir in runs:
        if is_locked(run_dir):
            totals["busy"] += 1
            continue
        mirror = RunMirror(client, run_dir, options.experiment or default_experiment(run_dir))
        notebook = run_dir / NOTEBOOK
        added = mirror.sync(notebook if notebook.exists() else None)
        if added is None:
            continue
        totals["runs"] += 1
        for key in ("records", "summary", "notebook"):
            totals[key] += added[key]
    where = os.path.relpath(root) if not root.is_absolute() else str(root)
    print(f"tracked {totals['runs']} runs of {where} in {uri}: added {totals['records']} records, "
          f"{totals['summary']} summaries, {totals['notebook']} notebooks"
          + (f"; {totals['busy']} runs in use by another process left alone" if totals["busy"] else ""))
    return 0
