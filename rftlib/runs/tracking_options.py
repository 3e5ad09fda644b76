"""The ``tracking`` option (a run's, or a sweep's top-level key) and where the tracking store is.

Checked by ``RunConfig.validated()`` and ``load_sweep`` before anything loads: an unknown backend, a
malformed store URI or an experiment name MLflow refuses is one RftError line. Light to import: no
MLflow, no torch, nothing of rftlib's training (MLflow's own experiment-name check is imported only
when a name is checked).

The store, first match wins: the option's ``uri``; else ``$MLFLOW_TRACKING_URI`` (MLflow's own
convention); else ``outputs/mlflow.db`` under the current directory.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rftlib.core.errors import RftError, unknown_choice
from rftlib.core.options import build_dataclass

TRACKING_BACKENDS = ("mlflow",)
DEFAULT_STORE = "outputs/mlflow.db"
URI_VARIABLE = "MLFLOW_TRACKING_URI"
# Stores rftlib logs to: a sqlite file, a tracking server, or a database server MLflow speaks to.
SERVER_SCHEMES = ("http", "https")
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")
URI_FORMS = "sqlite:///PATH.db, a PATH ending in .db, http(s)://HOST[:PORT] or postgresql/mysql/mssql://..."


@dataclass
class TrackingOptions:
    """Where a run's evaluations are mirrored while it trains (``rftlib.tracking``)."""

    backend: str = "mlflow"
    """The tracking system; one of TRACKING_BACKENDS."""
    uri: str | None = None
    """The store: ``sqlite:///path.db`` (or just a path ending in ``.db``), ``http(s)://host:port`` (an
    MLflow tracking server), or a database URI MLflow supports. None: $MLFLOW_TRACKING_URI, else
    outputs/mlflow.db."""
    experiment: str | None = None
    """The MLflow experiment. None: the sweep's name, or, for ``rft run`` and ``rft track``, the name of
    the folder holding the run directory (``outputs/runs`` -> ``runs``)."""


def normalise_uri(uri: str, what: str = "tracking uri") -> str:
    """The store URI with relative sqlite paths made absolute (a Ray worker or a notebook kernel may
    run elsewhere); a malformed URI is an RftError naming the accepted forms."""
    if not isinstance(uri, str) or not uri.strip():
        raise RftError(f"{what} must be a non-empty string ({URI_FORMS}), got {uri!r}")
    uri = uri.strip()
    if "://" not in uri:  # a plain path
        if not uri.endswith(".db"):
            raise RftError(f"malformed {what} {uri!r}: expected {URI_FORMS}")
        return "sqlite:///" + str(Path(uri).expanduser().resolve())
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "sqlite":
        if not uri.startswith("sqlite:///") or uri == "sqlite:///" or uri.startswith("sqlite:///:memory:"):
            raise RftError(f"malformed {what} {uri!r}: a sqlite store is sqlite:///relative/path.db or "
                           f"sqlite:////absolute/path.db")
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).expanduser().resolve())
    parsed = urlparse(uri)
    if scheme in SERVER_SCHEMES:
        try:
            port = parsed.port
        except ValueError:
            raise RftError(f"malformed {what} {uri!r}: the port must be a number from 0 to 65535") from None
        if not parsed.hostname or (parsed.netloc.endswith(":") and port is None):
            raise RftError(f"malformed {what} {uri!r}: a tracking server is http(s)://HOST[:PORT]")
        return uri.rstrip("/")
    if scheme.split("+")[0] in DATABASE_SCHEMES:
        if not parsed.hostname:
            raise RftError(f"malformed {what} {uri!r}: a database store names its host")
        return uri
    raise RftError(f"unknown tracking store scheme {scheme!r} in {uri!r}; valid: sqlite, "
                   f"{', '.join(SERVER_SCHEMES + DATABASE_SCHEMES)} (or a path ending in .db)")


def store_uri(uri: str | None = None) -> str:
    """The store to log to (see the module docstring), normalised."""
    if uri is not None:
        return normalise_uri(uri)
    if os.environ.get(URI_VARIABLE):
        return normalise_uri(os.environ[URI_VARIABLE], f"${URI_VARIABLE}")
    return normalise_uri(DEFAULT_STORE)


def check_experiment_name(name: str) -> str:
    """``name`` if MLflow accepts it as an experiment name, else an RftError line with MLflow's reason."""
    if not isinstance(name, str):
        raise RftError(f"tracking experiment must be a string, got {name!r}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before MLflow is first imported
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.utils.validation import _validate_experiment_name
    except ImportError:
        raise RftError("tracking needs MLflow: pip install 'rftlib[tracking]'") from None
    try:
        _validate_experiment_name(name)
    except MlflowException as error:
        reason = " ".join(str(error.message).split())
        raise RftError(f"MLflow refuses the experiment name {name[:60]!r}: {reason}") from None
    if name != name.strip():  # MLflow would take it, but the UI and `rft track` would not find it again
        raise RftError(f"tracking experiment {name!r} has leading or trailing spaces")
    return name


def tracking_options(values: Mapping[str, Any] | None, what: str = "tracking option") -> TrackingOptions | None:
    """The checked options of a ``tracking`` mapping ({}: all defaults), None when tracking is off.
    The store URI is checked as given and, when none is, as $MLFLOW_TRACKING_URI holds it."""
    if values is None:
        return None
    options = build_dataclass(TrackingOptions, values, what)
    if options.backend not in TRACKING_BACKENDS:
        raise unknown_choice("tracking backend", options.backend, TRACKING_BACKENDS)
    store_uri(options.uri)
    if options.experiment is not None:
        check_experiment_name(options.experiment)
    return options


def default_experiment(run_dir: str | Path) -> str:
    """A run's experiment when none is given: the name of the folder holding its directory."""
    name = Path(run_dir).resolve().parent.name
    return re.sub(r"\s+", "-", name) or "rftlib"




def sqlite_store_exists(uri: str) -> bool:
    """False only for a sqlite store whose database file does not exist (yet)."""
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).is_file()


__all__ = ["DEFAULT_STORE", "TRACKING_BACKENDS", "TrackingOptions", "check_experiment_name", "default_experiment",
           "normalise_uri", "sqlite_store_exists", "store_uri", "tracking_options"]
