"""One run directory mirrored as one MLflow run, idempotently: calling ``sync`` again adds only what
the directory gained since.

The MLflow run's id is kept in the directory (``mlflow.json``, one id per store URI), so a resumed run,
a sweep run again and ``rft track`` all continue the same MLflow run. A record is logged as one batch
of metrics at its step, and a step MLflow already holds is never logged again: after a resume the
redone evaluations (identical to those logged, timing aside) are skipped, so no step is duplicated.

What an MLflow run holds:
- name: the run directory's (readable) name;
- params: the run's configuration (``config.yaml``) flattened to dotted keys, values as YAML/JSON text;
- tags: ``rft.run_hash`` (``RunConfig.run_name``'s hash), dataset, strategy, model, objective, seed,
  domain, ``status`` (done / failed / running / unfinished, as ``rftlib.runs.rundir`` tells) and, for a
  failed run, ``failure_reason``; the MLflow status FINISHED / FAILED / RUNNING / KILLED says the same;
- metrics: every numeric value of every record at its step; at the end ``summary/...`` (Pareto AUC,
  best robust accuracy and its step, the final record's values, AutoAttack's overstatement, ...);
- artifacts: ``config.yaml`` and ``summary.json`` at the end; a sweep adds the rendered notebook.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import yaml

from rftlib.core.atomic import atomic_write_text
from rftlib.runs.records import CONFIG, RECORDS, SUMMARY, read_records
from rftlib.runs.rundir import failure_reason, run_status
from rftlib.tracking.store import experiment_id, retried

ID_FILE = "mlflow.json"
STEP_KEY = "clean_acc"  # in every record: the steps MLflow holds are the steps of this metric's history
SUMMARY_TAG, NOTEBOOK_TAG = "rft.summary_logged", "rft.notebook_logged"
MLFLOW_STATUS = {"done": "FINISHED", "failed": "FAILED", "running": "RUNNING", "unfinished": "KILLED"}
TAG_FIELDS = ("dataset", "strategy", "model", "objective", "seed", "domain")
_METRICS_PER_BATCH, _PARAMS_PER_BATCH = 1000, 100  # MLflow's limits for one log_batch


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def flatten_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"attack": {"eps": 0.1}}`` -> ``{"attack.eps": "0.1"}``; an empty mapping stays one param ``{}``;
    lists and scalars as JSON text, strings as they are."""
    params = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params.update(flatten_params(value, f"{name}."))
        else:
            params[name] = _text(value)
    return params


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def record_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Every numeric value of a record but its step (None, a missing OOD split, is left out)."""
    return {k: v for k, v in ((k, _number(v)) for k, v in record.items() if k != "step") if v is not None}


def summary_metrics(summary: dict[str, Any], prefix: str = "summary/") -> dict[str, float]:
    """The numeric leaves of summary.json as ``summary/<key>/<key>...``."""
    metrics = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            metrics.update(summary_metrics(value, f"{prefix}{key}/"))
        elif (number := _number(value)) is not None:
            metrics[f"{prefix}{key}"] = number
    return metrics


def run_hash(config: dict[str, Any]) -> str:
    """The hash ``RunConfig.run_name`` gives a (resolved) configuration, from its identity fields."""
    from rftlib.runs.config import RunConfig

    identity = RunConfig.identity(config)
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's stored configuration, None when it has none (it never started)."""
    try:
        config = yaml.safe_load((run_dir / CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def run_params(config: dict[str, Any]) -> dict[str, str]:
    """The params of a run: its configuration, less the ``tracking`` option (where it is mirrored,
    not what it computes)."""
    return flatten_params({k: v for k, v in config.items() if k != "tracking"})


def run_tags(config: dict[str, Any], run_dir: Path) -> dict[str, str]:
    tags = {k: str(config[k]) for k in TAG_FIELDS if config.get(k) is not None}
    return {**tags, "rft.run_hash": run_hash(config), "rft.run_dir": str(run_dir.resolve())}


class RunMirror:
    """The MLflow run of one run directory, on the store ``client`` writes to."""

    def __init__(self, client, run_dir: str | Path, experiment: str):
        self.client, self.run_dir, self.experiment = client, Path(run_dir), experiment
        self.run_id: str | None = None
        self.logged_steps: set[int] = set()
        self.tags: dict[str, str] = {}

    # ---- the run ------------------------------------------------------------------------------
    def _known_id(self) -> str | None:
        try:
            ids = json.loads((self.run_dir / ID_FILE).read_text())
        except (OSError, ValueError):
            return None
        return ids.get(self.client.tracking_uri) if isinstance(ids, dict) else None

    def _remember_id(self) -> None:
        path = self.run_dir / ID_FILE
        try:
            ids = json.loads(path.read_text())
        except (OSError, ValueError):
            ids = {}
        atomic_write_text(path, json.dumps({**ids, self.client.tracking_uri: self.run_id}, indent=1) + "\n")

    def open(self, config: dict[str, Any]) -> "RunMirror":
        """Find the run's MLflow run (its id in the directory, still in the store) or create it with its
        params and tags; then read which steps it holds."""
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        known = self._known_id()
        run = None
        if known is not None:
            try:
                run = retried(self.client.get_run, known)
            except MlflowException:  # not in this store (any more): a new one
                run = None
            if run is not None and run.info.lifecycle_stage == "deleted":
                run = None
        if run is None:
            experiment = experiment_id(self.client, self.experiment)
            run = retried(self.client.create_run, experiment, run_name=self.run_dir.name,
                          tags=run_tags(config, self.run_dir))
            params = [Param(k, v) for k, v in run_params(config).items()]
            for start in range(0, len(params), _PARAMS_PER_BATCH):
                retried(self.client.log_batch, run.info.run_id, params=params[start:start + _PARAMS_PER_BATCH])
            self.run_id = run.info.run_id
            self._remember_id()
        self.run_id = run.info.run_id
        self.tags = dict(run.data.tags)
        history = retried(self.client.get_metric_history, self.run_id, STEP_KEY)
        self.logged_steps = {metric.step for metric in history}
        return self

    # ---- what it holds ------------------------------------------------------------------------
    def log_records(self, records: list[dict[str, Any]]) -> int:
        """Log the records whose step MLflow does not hold yet, each record whole within one batch;
        returns how many were logged."""
        from mlflow.entities import Metric

        batch: list = []
        steps: list[int] = []

        def flush():
            if batch:
                retried(self.client.log_batch, self.run_id, metrics=list(batch))
                self.logged_steps.update(steps)
                batch.clear()
                steps.clear()

        logged = 0
        for record in records:
            step = int(record["step"])
            if step in self.logged_steps or step in steps:
                continue
            metrics = [Metric(k, v, int(time.time() * 1000), step) for k, v in record_metrics(record).items()]
            if len(batch) + len(metrics) > _METRICS_PER_BATCH:
                flush()
            batch.extend(metrics)
            steps.append(step)
            logged += 1
        flush()
        return logged

    def _set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        changed = [RunTag(k, v) for k, v in tags.items() if self.tags.get(k) != v]
        if changed:
            retried(self.client.log_batch, self.run_id, tags=changed)
            self.tags.update({tag.key: tag.value for tag in changed})

    def set_status(self, status: str, reason: str | None = None) -> None:
        """Tag the run's rftlib status (and failure reason) and set MLflow's status to match: FINISHED,
        FAILED or KILLED end the run, RUNNING reopens it (a resumed run)."""
        tags = {"status": status, **({"failure_reason": reason[:5000]} if reason else {})}
        unchanged = self.tags.get("status") == status
        self._set_tags(tags)
        if status != "failed" and "failure_reason" in self.tags:  # a failed run tried again
            retried(self.client.delete_tag, self.run_id, "failure_reason")
            del self.tags["failure_reason"]
        mlflow_status = MLFLOW_STATUS[status]
        if unchanged:
            return
        if mlflow_status == "RUNNING":
            retried(self.client.update_run, self.run_id, status="RUNNING")
        else:
            retried(self.client.set_terminated, self.run_id, status=mlflow_status)

    def log_summary(self) -> bool:
        """The summary's metrics and the run's summary.json and config.yaml, once."""
        path = self.run_dir / SUMMARY
        if self.tags.get(SUMMARY_TAG) or not path.exists():
            return False
        from mlflow.entities import Metric

        summary = json.loads(path.read_text())
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, int(summary.get("steps", 0))) for k, v in summary_metrics(summary).items()]
        for start in range(0, len(metrics), _METRICS_PER_BATCH):
            retried(self.client.log_batch, self.run_id, metrics=metrics[start:start + _METRICS_PER_BATCH])
        for name in (SUMMARY, CONFIG):
            retried(self.client.log_artifact, self.run_id, str(self.run_dir / name))
        self._set_tags({SUMMARY_TAG: "true"})
        return True

    def log_notebook(self, notebook: Path) -> bool:
        """A sweep run's executed notebook and its HTML render, again only when the notebook changed."""
        if not notebook.exists():
            return False
        stamp = str(notebook.stat().st_mtime_ns)
        if self.tags.get(NOTEBOOK_TAG) == stamp:
            return False
        for path in (notebook, notebook.with_suffix(".html")):
            if path.exists():
                retried(self.client.log_artifact, self.run_id, str(path), "notebook")
        self._set_tags({NOTEBOOK_TAG: stamp})
        return True

    # ---- everything from the directory --------------------------------------------------------
    def sync(self, notebook: str | Path | None = None, status: str | None = None) -> dict[str, int] | None:
        """Bring the MLflow run up to the directory: records, status, at the end the summary and
        (``notebook``) the rendered notebook. None when the directory holds no run. Returns what was
        added: ``{"records": n, "summary": 0|1, "notebook": 0|1}``."""
        config = read_config(self.run_dir)
        if config is None:
            return None
        if self.run_id is None:
            self.open(config)
        added = {"records": self.log_records(read_records(self.run_dir / RECORDS)), "summary": 0, "notebook": 0}
        status = status or run_status(self.run_dir)
        if status == "done":
            added["summary"] = int(self.log_summary())
        if notebook is not None:
            added["notebook"] = int(self.log_notebook(Path(notebook)))
        self.set_status(status, failure_reason(self.run_dir) if status == "failed" else None)
        return added


__all__ = ["ID_FILE", "MLFLOW_STATUS", "RunMirror", "flatten_params", "read_config", "record_metrics",
           "run_hash", "run_params", "summary_metrics"]
