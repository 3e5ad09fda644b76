"""``rft strategies``: its options, here rather than in ``rftlib.strategies.table`` because importing
anything inside ``rftlib.strategies`` imports torch (the package registers its strategies), and
``rft strategies --help`` should not. The table itself is :mod:`rftlib.strategies.table`."""
from __future__ import annotations

import argparse

from rftlib.runs.config import PAPER_MODEL


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=PAPER_MODEL,
                        help=f"timm model name, or open_clip:<architecture> (e.g. open_clip:ViT-B-16) for an open_clip "
                             f"CLIP's image tower (default: {PAPER_MODEL})")
    parser.add_argument("--num-classes", type=int, default=10, help="size of the new head (default: 10)")
    parser.add_argument("--img-size", type=int, default=None, help="input size, if not the model's")
    parser.add_argument("--patch-size", type=int, default=None, help="ViT patch size, if not the model's")


def command(args: argparse.Namespace) -> int:
    from rftlib.strategies.table import command as table_command

    return table_command(args)
