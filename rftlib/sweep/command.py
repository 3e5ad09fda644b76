"""``rft sweep SWEEP.yaml [--launcher local|ray] [--jobs N] [--address ADDR] [--dry-run]``."""
from __future__ import annotations

import argparse
import os

from rftlib.core.errors import RftError


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", help="the sweep YAML (see params/sweeps/)")
    # Checked by rftlib rather than argparse choices, for the one-line error every bad input gets.
    parser.add_argument("--launcher", default="local", metavar="{local,ray}",
                        help="local: worker processes on this machine; ray: one Ray task per run (default: local)")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="local launcher: runs at a time, one GPU each where GPUs exist (default: 1); "
                             "also the reports at a time. Each run has resources.cpus threads whatever --jobs is, "
                             "so its records do not depend on it")
    parser.add_argument("--address", default=None,
                        help="ray launcher: the cluster to join, e.g. 10.0.0.1:6379, or auto "
                             "(default: $RAY_ADDRESS, else a new local Ray instance)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and what is already done; run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--force-resume", action="store_true",
                        help="resume runs started under another numerics environment (threads, device, torch "
                             "version, ...); their records then differ from uninterrupted runs")


def _relative(path: os.PathLike) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def command(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `rft sweep --help` needs none of them (nbformat alone costs seconds).
    from rftlib.core.numerics import FORCE_VARIABLE
    from rftlib.sweep.cost import describe_cost
    from rftlib.sweep.launch import check_launcher
    from rftlib.sweep.runner import describe, run_sweep
    from rftlib.sweep.spec import load_sweep

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
        if sweep.tracking is not None:
            from rftlib.runs.tracking_options import store_uri

            print(f"tracking: MLflow at {store_uri(sweep.tracking.uri)}, experiment "
                  f"{sweep.tracking.experiment or sweep.name!r}")
        print(describe_cost([run for run in sweep.runs if run.status() != "done"], args.jobs))
        return 0
    if args.force_resume:
        os.environ[FORCE_VARIABLE] = "1"  # read by every run's finetune; forwarded to Ray tasks
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
