"""The `rft` command: `rft strategies`, `rft run`, `rft sweep`, `rft bench`, `rft complexity`.

Each subcommand lives in the module that owns its logic and exposes two functions:
``configure_parser(parser)`` adds its arguments, ``command(args) -> int`` runs it. Bad input (an
RftError) is printed as one line on stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from rftlib.core.errors import RftError
from rftlib.core.fast_imports import skip_slow_optional_imports

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "strategies": ("rftlib.strategies_command", "list the fine-tuning strategies with trainable/total parameters"),
    "run": ("rftlib.training.command", "fine-tune one run with continuous evaluation from a YAML config"),
    "sweep": ("rftlib.sweep.command", "run a sweep of parameterised notebooks (local or Ray) and render reports"),
    "bench": ("rftlib.bench", "benchmark PGD and fine-tuning throughput against torchattacks and the device peak"),
    "complexity": ("rftlib.analysis.complexity.command", "measure a task's complexity under a pretrained backbone (LogME, F1, ...)"),
    "wise-ft": ("rftlib.posthoc.command", "WiSE-FT: evaluate weight-space interpolations of a finished run"),
    "track": ("rftlib.tracking.command", "log existing run directories to MLflow (idempotent: only what is missing)"),
    "ui": ("rftlib.tracking.ui", "start the MLflow UI on 127.0.0.1 over the project's tracking store"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser, with arguments for the chosen subcommand only: importing a subcommand's module
    (torch, Ray, ...) is paid only by the subcommand that needs it."""
    parser = argparse.ArgumentParser(prog="rft", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if argv[:1] == [name]:
            module = importlib.import_module(module_name)
            module.configure_parser(sub_parser)
            sub_parser.set_defaults(_command=module.command)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A CLI run offline must not hang on hub retries; online users can set HF_HUB_OFFLINE=0.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # inherited by every worker, kernel and server
    skip_slow_optional_imports()  # ~2 s of CPU in `rft sweep` (nbformat -> jsonschema); see rftlib.core.fast_imports
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    # Warnings (a duplicate grid point, runs left out of a table) as one line each, like errors.
    saved_format = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: f"rft {args.subcommand}: warning: {message}\n"
    try:
        return int(args._command(args) or 0)
    except RftError as error:
        print(f"rft {args.subcommand}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rft {args.subcommand}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `rft sweep --dry-run | head`: the reader has gone. Point stdout at /dev/null so the
        # interpreter's final flush does not fail again (the recipe of Python's signal docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
    finally:
        warnings.formatwarning = saved_format


if __name__ == "__main__":
    sys.exit(main())
