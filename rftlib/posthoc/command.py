"""`rft wise-ft RUN_DIR [--alphas 0,0.5,1] [--start probe|initial]`: WiSE-FT's α-curve of a finished run
(``rftlib.training.wise_ft``). Light to import: torch loads only when the command runs."""
from __future__ import annotations

import argparse

from rftlib.core.errors import RftError


def _alphas(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")] if text.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of numbers in [0, 1], got {text!r}") from None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a finished run directory (with its done marker)")
    parser.add_argument("--alphas", type=_alphas, default=None, metavar="A,B,...",
                        help="interpolation weights in [0, 1] (0: the start point, 1: the fine-tuned model); "
                             "default: the run's wise_ft alphas, else 0,0.25,0.5,0.75,1")
    parser.add_argument("--start", default=None,
                        help="probe (pretrained backbone + linear-probe head; the default for timm models), initial "
                             "(the run's own initial model) or zeroshot (the zero-shot CLIP; the default for open_clip "
                             "models)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rftlib.remedies.wise_lp_options import check_alphas, check_start

    # Bad input before anything loads.
    if args.alphas is not None:
        check_alphas(args.alphas)
    if args.start is not None:
        check_start(args.start)
    if not Path(args.run_dir).is_dir():
        raise RftError(f"run directory not found: {args.run_dir}")
    from rftlib.posthoc.wise_ft_run import WISE_FT_RECORDS, wise_ft

    rows = wise_ft(args.run_dir, alphas=args.alphas, start=args.start, progress=not args.no_progress)
    print(f"WiSE-FT from {rows['start'].iloc[0] if len(rows) else args.start} "
          f"(written to {Path(args.run_dir) / WISE_FT_RECORDS}):")
    for row in rows.to_dict("records"):
        ood = row.get("ood_acc")
        print(f"  alpha {row['alpha']:.3g}: clean {row['clean_acc']:.4f}  robust {row['adv_acc']:.4f}"
              + (f"  ood {ood:.4f}" if ood is not None and ood == ood else ""))
    return 0
