"""`rft run CONFIG.yaml [-p key=value ...]`: one fine-tuning run from a YAML configuration."""
from __future__ import annotations

import argparse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML file with RunConfig fields (see rftlib.runs.config.RunConfig)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field; values are YAML, dotted keys reach into mappings "
                             "(e.g. -p lr=1e-3 -p attack.steps=5)")
    parser.add_argument("--run-dir", help="write here instead of <output_dir>/<derived run name>")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--force-resume", action="store_true",
                        help="resume a run started under another numerics environment (threads, device, "
                             "torch version, ...); its records then differ from an uninterrupted run")


def _check_destination(args: argparse.Namespace) -> None:
    """Where the run will write, first: a file in the way or a read-only disk is one line at once, not after
    the configuration's checks and the task's loading (seconds)."""
    from rftlib.core.yamlio import load_yaml
    from rftlib.runs.config import RunConfig, apply_overrides
    from rftlib.runs.rundir import check_creatable

    if args.run_dir:
        check_creatable(args.run_dir)
        return
    output_dir = apply_overrides(load_yaml(args.config, "config file"), args.param).get("output_dir",
                                                                                        RunConfig.output_dir)
    if isinstance(output_dir, str):  # another type is the configuration's own refusal, below
        check_creatable(output_dir, "output directory")


def command(args: argparse.Namespace) -> int:
    from rftlib.runs.config import RunConfig

    _check_destination(args)
    # Bad input refused before torch is imported, a CUDA device too where this machine has no GPU driver.
    config = RunConfig.from_yaml(args.config, args.param, here=True)
    from rftlib.training import finetune

    result = finetune(config, run_dir=args.run_dir, progress=not args.no_progress,
                      force_resume=args.force_resume or None)
    summary = result.summary
    final = summary.get("final", {})
    print(f"run directory: {result.run_dir}")
    if final:
        ood = final.get("ood_acc")
        from rftlib.runs.measures import robust_what

        print(f"final: clean {final['clean_acc']:.4f}  robust {final['adv_acc']:.4f}"
              + (f"  ood {ood:.4f}" if ood is not None else "")
              + f"  | robustness peak {summary['best_adv_acc']:.4f} at step {summary['best_adv_step']}"
              + f"  | Pareto AUC {summary['pareto_auc']:.4f}")
        print(f"robust accuracy: {robust_what(config.to_dict())}")
    if config.tracking is not None:
        print(tracking_line(result, config))
    return 0


def tracking_line(result, config) -> str:
    """The closing line about MLflow, true to what happened: tracked (and where to look: the server's own UI,
    or `rft ui` for a database store), or not tracked (tracking stopped, or the run was loaded finished and
    never logged to this store) with the command that logs it later."""
    from rftlib.runs.tracking_options import store_uri
    from rftlib.tracking.links import is_server, run_id, run_url

    outcome = result.tracking or {}
    uri = outcome.get("uri") or store_uri(config.tracking.get("uri"))
    later = f"`rft track {result.run_dir.parent} --uri {uri}` logs it later"
    if outcome.get("stopped"):
        return f"not tracked: MLflow at {uri} stopped ({outcome['stopped']}); {later}"
    found = outcome.get("run_id") or run_id(result.run_dir, uri)
    if not found:
        return f"not tracked in MLflow at {uri}; {later}"
    where = run_url(uri, found)
    return f"tracked in MLflow: {where}" + ("" if is_server(uri) else f" (after `rft ui --uri {uri}`)")