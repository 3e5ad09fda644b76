"""``rft ui [--uri URI] [--port N]``: the MLflow UI on 127.0.0.1 over the project's tracking store.

The store: ``--uri``, else $MLFLOW_TRACKING_URI, else outputs/mlflow.db. Only this machine can open it
(http://127.0.0.1:PORT); from another machine, forward the port (``ssh -L 5000:127.0.0.1:5000 host``).
MLflow 3's UI opens on its GenAI pages (traces) unless asked for its "Model training" ones, where runs,
their curves and params are: the address printed asks for those.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from rftlib.core.errors import RftError


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", default=None,
                        help="the tracking store (default: $MLFLOW_TRACKING_URI, else outputs/mlflow.db)")
    parser.add_argument("--port", type=int, default=5000, help="the port on 127.0.0.1 (default: 5000)")


def ui_address(port: int) -> str:
    """The UI's experiments page on its "Model training" side (runs, curves, params)."""
    return f"http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning"


def ui_command(uri: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line over ``uri`` (normalised) on 127.0.0.1:``port``."""
    mlflow = Path(sys.executable).with_name("mlflow")
    executable = str(mlflow) if mlflow.exists() else shutil.which("mlflow")
    if executable is None:
        raise RftError("rft ui needs MLflow: pip install 'rftlib[tracking]'")
    return [executable, "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)]


def command(args: argparse.Namespace) -> int:
    from rftlib.runs.tracking_options import sqlite_store_exists, store_uri

    if not 0 < args.port < 65536:
        raise RftError(f"--port must be from 1 to 65535, got {args.port}")
    uri = store_uri(args.uri)
    if uri.startswith(("http://", "https://")):
        raise RftError(f"{uri} is a tracking server: open it in a browser; rft ui serves a database store")
    if not sqlite_store_exists(uri):
        raise RftError(f"no tracking store at {uri.removeprefix('sqlite:///')} yet: run `make demo`, a sweep with "
                       f"tracking, `rft run ... -p tracking={{}}` or `rft track OUTPUT_DIR` first")
    argv = ui_command(uri, args.port)
    print(f"MLflow UI over {uri}: open {ui_address(args.port)} (Ctrl-C stops it)", flush=True)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.execv(argv[0], argv)
    return 0  # not reached
