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


def command(args: argparse.Namespace) -> int:
    from rftlib.runs.config import RunConfig

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
        print(f"final: clean {final['clean_acc']:.4f}  robust {final['adv_acc']:.4f}"
              + (f"  ood {ood:.4f}" if ood is not None else "")
              + f"  | best robust {summary['best_adv_acc']:.4f} at step {summary['best_adv_step']}"
              + f"  | Pareto AUC {summary['pareto_auc']:.4f}")
    if config.tracking is not None:
        from rftlib.runs.tracking_options import store_uri

        print(f"tracked in MLflow: {store_uri(config.tracking.get('uri'))} (`rft ui` shows it)")
    return 0
