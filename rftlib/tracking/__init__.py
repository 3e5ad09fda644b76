"""Live experiment tracking in MLflow: every run mirrored as an MLflow run, the run directory's files
staying the source of truth.

- the ``tracking`` option of a run or a sweep, and where the store is (light: no MLflow), is checked with
  the run configuration in ``rftlib.runs.tracking_options`` and exported here;
- ``store``: opening a store (sqlite created once under a file lock, retries while another writer
  holds it, a tracking server probed first) and its experiments;
- ``mirror``: one run directory -> its MLflow run, idempotently (the run's id kept in the directory);
- ``live``: the tracker a running ``finetune`` logs each evaluation to; it never breaks the run;
- ``sweep``: a sweep's driver mirrors its runs as they write (one writer, whatever the launcher);
- ``command`` (``rft track``) and ``ui`` (``rft ui``).

MLflow is imported only when something is tracked (``rft --help`` and untracked runs never pay it).

May use: core, stats, models, strategies, data, attacks, remedies, runs.
"""
from __future__ import annotations

from rftlib.runs.tracking_options import DEFAULT_STORE, TRACKING_BACKENDS, TrackingOptions, store_uri, tracking_options

__all__ = ["DEFAULT_STORE", "TRACKING_BACKENDS", "TrackingOptions", "store_uri", "tracking_options"]
