"""Opening an MLflow store for many writers, and finding or creating its experiments.

- A sqlite store is created (MLflow runs its alembic migrations on first use, seconds of CPU) under an
  OS file lock beside the database, so two processes starting at once do not both migrate it. MLflow
  gives each sqlite session a 20 s busy timeout; ``retried`` adds a few more tries with back-off for a
  write that still finds the database locked, so concurrent runs (``rft sweep --jobs``, two ``rft run``)
  all log completely.
- A tracking server (``http(s)://``) is asked for its ``/health`` first with a short timeout, so an
  unreachable one costs seconds, not MLflow's minutes of HTTP retries; after that the URI is used as
  MLflow uses it.
- Two processes creating the same experiment at once: the loser finds the winner's.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from rftlib.runs.tracking_options import SERVER_SCHEMES

T = TypeVar("T")
ARTIFACTS = "mlartifacts"  # beside a sqlite database: the artifacts of the experiments rftlib creates
# MLflow 3's UI opens an experiment of unknown kind on its GenAI pages (traces: none); this kind opens
# it on its runs, their charts and their params.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
_PROBE_SECONDS = 5
_RETRIES, _BACKOFF_SECONDS = 6, 0.5


class TrackingUnavailable(Exception):
    """The store cannot be reached or used; the run goes on without it."""


def quiet_mlflow_environment() -> None:
    """Before MLflow is first imported in this process: no telemetry, no "View run at" lines on a run's
    stdout, and HTTP retries that give up within about a minute instead of MLflow's default of several
    (a run must not wait on a dead server)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a (normalised) sqlite URI, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def is_locked_error(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is sqlite's "database is locked" / "busy"."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error).lower()
        if "database is locked" in text or "database is busy" in text:
            return True
        error = error.__cause__ or error.__context__
    return False


def retried(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, tried again with back-off while sqlite reports the database locked."""
    for attempt in range(_RETRIES):
        try:
            return call(*args, **kwargs)
        except Exception as error:
            if attempt == _RETRIES - 1 or not is_locked_error(error):
                raise
            time.sleep(_BACKOFF_SECONDS * 2 ** attempt)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive OS lock on ``path`` (created), held for the block."""
    try:
        import fcntl
    except ImportError:  # Windows: sqlite's own locking and the retries have to do
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """MLflow's INFO lines ("Creating initial MLflow database tables...") off for the block: a run's
    output is its progress and, at most, one warning about tracking."""
    import logging

    logger = logging.getLogger(logger_name)
    saved = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(saved)


def _probe_server(uri: str) -> None:
    import requests

    try:
        reply = requests.get(f"{uri}/health", timeout=_PROBE_SECONDS)
    except requests.RequestException as error:
        raise TrackingUnavailable(f"no MLflow tracking server answers at {uri} ({type(error).__name__})") from None
    if reply.status_code != 200:
        raise TrackingUnavailable(f"{uri}/health answered HTTP {reply.status_code}: not an MLflow tracking server?")


def open_client(uri: str):
    """An ``MlflowClient`` on the store at ``uri`` (normalised, see ``options.store_uri``), ready for
    writing: a sqlite store exists and is migrated, a server answers. TrackingUnavailable otherwise."""
    quiet_mlflow_environment()
    from mlflow import MlflowClient

    if uri.split("://", 1)[0] in SERVER_SCHEMES:
        _probe_server(uri)
        return MlflowClient(uri)
    database = sqlite_path(uri)
    if database is None:
        client = MlflowClient(uri)
        retried(client.search_experiments, max_results=1)  # connects now: a wrong database fails here
        return client
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrackingUnavailable(f"cannot create {database.parent}: {error.strerror or error}") from None
    with _file_lock(database.with_name(database.name + ".lock")), _quiet("mlflow.store.db.utils"):
        client = MlflowClient(uri)
        retried(client.search_experiments, max_results=1)  # creates and migrates a new store, once
    return client


def experiment_id(client, name: str) -> str:
    """The id of experiment ``name``, created if missing (a sqlite store's artifacts go to
    ``mlartifacts/`` beside the database; a server's, where the server keeps them)."""
    from mlflow.exceptions import MlflowException

    found = retried(client.get_experiment_by_name, name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise TrackingUnavailable(f"experiment {name!r} is deleted in this store; restore it "
                                      f"(mlflow experiments restore) or choose another name")
        if KIND_TAG not in found.tags:
            retried(client.set_experiment_tag, found.experiment_id, KIND_TAG, KIND)
        return found.experiment_id
    database = sqlite_path(client.tracking_uri)
    location = (database.parent / ARTIFACTS).as_uri() if database is not None else None
    try:
        return retried(client.create_experiment, name, artifact_location=location, tags={KIND_TAG: KIND})
    except MlflowException:  # created meanwhile by another writer
        found = retried(client.get_experiment_by_name, name)
        if found is None:
            raise
        return found.experiment_id


__all__ = ["ARTIFACTS", "TrackingUnavailable", "experiment_id", "is_locked_error", "open_client",
           "quiet_mlflow_environment", "retried", "sqlite_path"]
