"""``rft sweep SWEEP.yaml [--launcher local|ray] [--jobs N] [--address ADDR] [--dry-run]``."""
from __future__ import annotations

import argparse
import os

from ..errors import RftError
from .cost import describe_cost
from .launch import check_launcher
from .runner import describe, run_sweep
from .spec import load_sweep


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", help="the sweep YAML (see params/sweeps/)")
    # Checked by rftlib rather than argparse choices, for the one-line error every bad input gets.
    parser.add_argument("--launcher", default="local", metavar="{local,ray}",
                        help="local: worker processes on this machine; ray: one Ray task per run (default: local)")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="local launcher: runs at a time, one GPU each where GPUs exist (default: 1); "
                             "also the reports at a time")
    parser.add_argument("--address", default=None,
                        help="ray launcher: the cluster to join, e.g. 10.0.0.1:6379, or auto "
                             "(default: $RAY_ADDRESS, else a new local Ray instance)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and what is already done; run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _relative(path: os.PathLike) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def command(args: argparse.Namespace) -> int:
    check_launcher(args.launcher)
    if args.address and args.launcher != "ray":
        raise RftError("--address is for --launcher ray")
    sweep = load_sweep(args.sweep)
    if args.dry_run:
        statuses = [run.status() for run in sweep.runs]
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in ("done", "failed", "started", "todo") if s in statuses)
        print(f"sweep {sweep.name}: {len(sweep.runs)} runs in {_relative(sweep.root)} ({counts})")
        print("\n".join(describe(sweep.runs)))
        print(f"reports: {', '.join(r.name for r in sweep.reports) or 'none'} -> {_relative(sweep.root / 'reports')}")
        print(describe_cost([run for run in sweep.runs if run.status() != "done"], args.jobs))
        return 0
    result = run_sweep(sweep, launcher=args.launcher, jobs=args.jobs, address=args.address,
                       progress=not args.no_progress)
    ran = len(result.runs)
    failed_runs = [o for o in result.runs if o["status"] != "done"]
    print(f"sweep {sweep.name}: {len(sweep.runs)} runs: {ran - len(failed_runs)} done now, "
          f"{len(result.skipped)} already done, {len(failed_runs)} failed")
    by_name = {job.name: job for job in [*sweep.runs, *sweep.reports]}
    for outcome in result.failed:
        page = by_name[outcome["name"]].output.with_suffix(".html")
        print(f"  failed {outcome['name']}: {outcome['error']}  ({_relative(page)})")
    failed_reports = [o for o in result.reports if o["status"] != "done"]
    print(f"reports: {len(result.reports) - len(failed_reports)} done, {len(failed_reports)} failed")
    print(_relative(result.index))
    return 1 if result.failed else 0
