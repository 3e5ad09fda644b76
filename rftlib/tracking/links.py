"""Where to look at a tracked run in the MLflow UI: the right viewer for each store, and the run's and
experiment's addresses.

A tracking server (``http(s)://``) serves its own UI at its address; a database store (sqlite, postgres, ...)
has none until ``rft ui`` (``make ui``) serves one on 127.0.0.1:PORT. The UI opens a run directly at
``#/runs/<run id>`` and an experiment at ``#/experiments/<id>``. A run directory keeps its MLflow run's id per
store in ``mlflow.json``; a sweep's folder keeps its experiment's id and its sweep-level run's there too.
Light: no MLflow import.
"""
from __future__ import annotations

import json
from pathlib import Path

from rftlib.runs.tracking_options import SERVER_SCHEMES

ID_FILE = "mlflow.json"
DEFAULT_PORT = 5000
TRAINING_VIEW = "?workflowType=machine_learning"  # MLflow 3: the "Model training" pages (runs, curves)


def is_server(uri: str) -> bool:
    return uri.split("://", 1)[0].lower() in SERVER_SCHEMES


def ui_base(uri: str, port: int = DEFAULT_PORT) -> str:
    """The UI's address for the store at ``uri``: the server itself, or where ``rft ui`` serves it."""
    return uri.rstrip("/") if is_server(uri) else f"http://127.0.0.1:{port}"


def viewer_hint(uri: str) -> str:
    """How to open the UI for ``uri``, in a few words."""
    return "open it in a browser" if is_server(uri) else "`rft ui` (or `make ui`) serves it"


def run_url(uri: str, run_id: str, port: int = DEFAULT_PORT) -> str:
    return f"{ui_base(uri, port)}/#/runs/{run_id}"


def experiment_url(uri: str, experiment_id: str | None = None, port: int = DEFAULT_PORT) -> str:
    base = ui_base(uri, port)
    return f"{base}/#/experiments/{experiment_id}" if experiment_id else f"{base}/#/experiments{TRAINING_VIEW}"


def read_ids(folder: str | Path) -> dict:
    """``<folder>/mlflow.json`` as a dict ({} when missing or unreadable)."""
    try:
        ids = json.loads((Path(folder) / ID_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return ids if isinstance(ids, dict) else {}


def run_id(run_dir: str | Path, uri: str) -> str | None:
    """The MLflow run id a run directory has on the store ``uri`` (None: not tracked there)."""
    value = read_ids(run_dir).get(uri)
    return value if isinstance(value, str) else None


def sweep_ids(root: str | Path, uri: str) -> dict:
    """{"experiment_id", "run_id"} a sweep's folder holds for the store ``uri`` ({} if none)."""
    value = read_ids(root).get(uri)
    return value if isinstance(value, dict) else {}


__all__ = ["DEFAULT_PORT", "ID_FILE", "experiment_url", "is_server", "read_ids", "run_id", "run_url", "sweep_ids",
           "ui_base", "viewer_hint"]
