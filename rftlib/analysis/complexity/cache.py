"""Measures cached beside the runs they describe: ``<runs folder>/complexity/<task>_<hash>.json``, one
file per (model, weights, dataset and its options, domain), the hash over those settings
(``measure.task_identity``). A sweep fills the cache once per task (``measure_sweep``); ``join_summaries``
adds the cached measures to ``rftlib.analysis.results.load_summaries``' frame by reading each run's config.yaml.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rftlib.core.atomic import atomic_write_text
from rftlib.core.errors import RftError
from rftlib.analysis.complexity.measure import MEASURES, complexity_options, measure_task, task_identity, task_label

COMPLEXITY_DIR = "complexity"


def cache_file(root: str | Path, config: Mapping[str, Any]) -> Path:
    """Where the measures of ``config``'s task live under the runs folder ``root``."""
    identity = task_identity(config)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", identity["dataset"] + (f"-{identity['domain']}" if identity["domain"] else ""))
    return Path(root) / COMPLEXITY_DIR / f"{name}_{digest}.json"


def write_result(path: str | Path, result: Mapping[str, Any]) -> Path:
    """Write ``result`` as JSON atomically: a reader never sees half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RftError(f"cannot create {path.parent}: {error.strerror or error}") from None
    return atomic_write_text(path, json.dumps(result, indent=2) + "\n")


def read_result(path: str | Path) -> dict[str, Any] | None:
    """The cached measures at ``path``; None when absent or unreadable (with a warning: recomputed)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(result, dict) or "measures" not in result:
            raise ValueError("not a complexity result")
    except ValueError as error:
        warnings.warn(f"{path}: ignoring an unreadable complexity cache ({error})", stacklevel=2)
        return None
    return result


def with_weights(config: Mapping[str, Any]) -> dict[str, Any]:
    """A sweep job's configuration with its ``upstream`` setting turned into the weights path the runs
    use (pretrained once and cached by ``rftlib.training.upstream``), the setting itself kept for the measures."""
    from rftlib.training.params import UPSTREAM, pretrained_weights

    config = dict(config)
    if config.get(UPSTREAM) is not None and config.get("weights") is None:
        config["weights"] = pretrained_weights(config[UPSTREAM])
    return config


def measure_sweep(sweep, log: Callable[[str], None] = print, **options) -> dict[Path, dict | None]:
    """The measures of every task of ``sweep``'s fine-tuning runs, computed where not cached under
    ``sweep.root`` with the same options. A task that fails is logged and left out (the reports show
    it without measures); the sweep goes on."""
    opts = complexity_options(**options)
    tasks: dict[Path, dict] = {}
    for job in sweep.runs:
        if job.config is not None:
            config = with_weights(job.config)
            tasks.setdefault(cache_file(sweep.root, config), config)
    results: dict[Path, dict | None] = {}
    for path, config in tasks.items():
        cached = read_result(path)
        if cached is not None and cached.get("options", {}).get("size") == opts.size \
                and cached["options"].get("seed") == opts.seed:
            results[path] = cached
            continue
        try:
            result = measure_task(config, **vars(opts))
        except Exception as error:  # noqa: BLE001 - one task's failure must not stop the sweep's reports
            log(f"complexity of {task_label(config)} not measured: {type(error).__name__}: {error}")
            results[path] = None
            continue
        write_result(path, result)
        log(f"complexity of {result['task']}: " + ", ".join(
            f"{k} {v['value']:.3g}" for k, v in result["measures"].items() if v["value"] is not None)
            + f" ({result['seconds']:.0f} s)")
        results[path] = result
    return results


def join_summaries(summaries: pd.DataFrame) -> pd.DataFrame:
    """``summaries`` (from ``rftlib.analysis.results.load_summaries``) with the task's name and measures added:
    columns ``task`` (the dataset as ``results.distinguish_datasets`` names it, ``-domain`` appended),
    then ``<measure>``, ``<measure>_low``, ``<measure>_high`` for each of MEASURES, read from the cache
    beside each run (NaN where none is cached or a measure is unavailable)."""
    from rftlib.analysis.results import distinguish_datasets, read_config

    if not isinstance(summaries, pd.DataFrame) or "path" not in summaries.columns:
        raise RftError("join_summaries expects the frame of rftlib.analysis.results.load_summaries (with its 'path' column)")
    named = distinguish_datasets(summaries, summaries)
    files = [cache_file(Path(path).parent, read_config(Path(path))) for path in summaries["path"]]
    tasks = [dataset + (f"-{domain}" if isinstance(domain, str) else "")
             for dataset, domain in zip(named["dataset"], summaries["domain"])]
    # One name for two cached tasks (the same data under other weights): the cache's hash tells them apart.
    ambiguous = {t for t in tasks if len({f for f, u in zip(files, tasks) if u == t}) > 1}
    tasks = [f"{t} ({f.stem.rsplit('_', 1)[-1]})" if t in ambiguous else t for t, f in zip(tasks, files)]
    columns: dict[str, list] = {"task": tasks}
    for name in MEASURES:
        for suffix in ("", "_low", "_high"):
            columns[name + suffix] = []
    for path in files:
        cached = read_result(path) or {"measures": {}}
        for name in MEASURES:
            entry = cached["measures"].get(name) or {}
            for suffix, key in (("", "value"), ("_low", "low"), ("_high", "high")):
                value = entry.get(key)
                columns[name + suffix].append(float("nan") if value is None else float(value))
    joined = summaries.copy()
    for name, values in columns.items():
        joined[name] = values
    return joined
