"""Load training-run directories into tidy pandas frames for the notebooks and reports.

A run directory holds ``config.yaml`` (the resolved configuration), ``records.jsonl`` (one JSON
object per evaluation, appended as training goes), and, once the run has finished,
``summary.json`` and an empty ``done`` marker written last.

Tables use finished runs only: a failed, killed or still running run is not a result. The readers
say (a ``RunsLeftOut`` warning, and ``frame.attrs["left_out"]``) how many runs they left out and
why; ``include_unfinished=True`` includes them on purpose, their summary values then computed from
the records.
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from rftlib.core.errors import RftError
from rftlib.stats.pareto import pareto_auc
from rftlib.runs.records import CONFIG, DONE, RECORD_FIELDS, RECORDS, SUMMARY
from rftlib.runs.records import read_records as _read_records_file
from rftlib.runs.rundir import FAILED, failure_reason, run_status

# objective: the training objective (rftlib.training.objectives); "standard" for runs from before it existed.
ID_COLUMNS = ["run", "model", "strategy", "dataset", "domain", "seed", "done", "objective"]
REQUIRED_RECORD_FIELDS = ("step", "clean_acc", "adv_acc")
SUMMARY_COLUMNS = ID_COLUMNS + [
    "status", "n_evals", "final_step", "final_clean_acc", "final_adv_acc", "final_ood_acc", "best_adv_acc",
    "best_adv_step", "pareto_auc", "trainable_fraction", "path",
]
_NAME_COLUMNS = ["run", "model", "strategy", "dataset", "domain", "objective"]

ATTACK_PREFIX = "adv_acc_"
# Summary columns from a run's end-of-run AutoAttack, for the final model and for the peak-PGD model
# (rftlib.analysis.calibration compares them; it sits above this module).
AUTOATTACK_COLUMNS = [f"{name}_{which}" for which in ("peak", "final")
                      for name in ("pgd_acc", "autoattack_acc", "pgd_overstatement", "pgd_overstatement_se")]


def attack_labels(columns) -> list[str]:
    """The attack labels of a records frame (or of a record's keys): ``adv_acc_<label>`` columns."""
    return [c[len(ATTACK_PREFIX):] for c in columns if str(c).startswith(ATTACK_PREFIX)]


def summary_fields(records: list[dict], summary: dict) -> dict[str, Any]:
    """Per-run summary columns: the Pareto AUC under each attack, and the end-of-run AutoAttack figures."""
    fields: dict[str, Any] = {}
    labels = attack_labels(dict.fromkeys(k for r in records for k in r))
    for label in labels:
        points = [(r["clean_acc"], r[ATTACK_PREFIX + label]) for r in records
                  if r.get(ATTACK_PREFIX + label) is not None]
        fields[f"pareto_auc_{label}"] = pareto_auc(points) if points else math.nan
    autoattack = summary.get("autoattack") or {}
    for which in ("peak", "final"):
        entry = autoattack.get(which) or {}
        for name in ("pgd_acc", "autoattack_acc", "pgd_overstatement", "pgd_overstatement_se"):
            fields[f"{name}_{which}"] = entry.get(name)
    if autoattack:
        fields["autoattack_standard"] = autoattack.get("standard")
    return fields


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run, finished or not: a ``config.yaml`` beside its ``records.jsonl``, or
    a ``failed`` marker (a run can fail before its first record, or before it wrote its configuration:
    a sweep marks the directory of a run whose notebook failed)."""
    return (path / FAILED).is_file() or ((path / CONFIG).is_file() and (path / RECORDS).is_file())


def find_runs(*roots: str | Path) -> list[Path]:
    """Run directories under the given roots (searched recursively), sorted and without repeats.

    A root that is itself a run directory counts. A root that does not exist raises RftError;
    one that holds no runs contributes nothing.
    """
    if not roots:
        raise RftError("find_runs needs at least one directory to search")
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise RftError(f"no such results directory: {root}")
        if not root.is_dir():
            raise RftError(f"results root is not a directory: {root}")
        candidates = [root] + [p.parent for name in (RECORDS, FAILED) for p in root.rglob(name)]
        found.update(p for p in candidates if is_run_dir(p))
    return sorted(found)


class RunsLeftOut(UserWarning):
    """A reader left out runs that are not results (failed, running, unfinished)."""


def run_statuses(runs: Iterable[Path]) -> dict[Path, str]:
    """Each run's status (``rftlib.runs.rundir.run_status``: the sweep index uses the same)."""
    return {Path(run): run_status(run) for run in runs}


def left_out_text(left_out: dict[str, list[str]]) -> str:
    """"3 runs left out (2 failed, 1 unfinished)", or "no run left out"."""
    n = sum(len(names) for names in left_out.values())
    if not n:
        return "no run left out"
    why = ", ".join(f"{len(names)} {status}" for status, names in sorted(left_out.items()))
    return f"{n} run{'s' if n > 1 else ''} left out ({why})"


def select_runs(*roots_or_runs: str | Path, include_unfinished: bool = False) -> tuple[list[Path], dict]:
    """``find_runs``, finished runs only unless ``include_unfinished``; the runs and those left out
    by status (``{"failed": [names], ...}``), with a RunsLeftOut warning saying how many and why.
    Runs without a configuration (failed before writing it) are left out either way."""
    runs = find_runs(*roots_or_runs)
    statuses = run_statuses(runs)
    left_out: dict[str, list[str]] = {}
    for run, status in statuses.items():
        if (status != "done" and not include_unfinished) or not (run / CONFIG).is_file():
            left_out.setdefault(status, []).append(run.name)
    if left_out:
        n = sum(len(names) for names in left_out.values())
        why = ", ".join(f"{len(names)} {status}" for status, names in sorted(left_out.items()))
        warnings.warn(f"left out {n} of {len(runs)} runs that did not finish ({why}); "
                      f"include_unfinished=True includes them", RunsLeftOut, stacklevel=3)
    kept = {name for names in left_out.values() for name in names}
    return [run for run in runs if run.name not in kept], left_out


def why_empty(summaries: pd.DataFrame, *roots: str | Path, what: str = "finished runs") -> str | None:
    """None when ``summaries`` has rows; otherwise why a report over ``roots`` has nothing to show: how
    many runs were found and their statuses, with the first failures' reasons."""
    if len(summaries):
        return None
    runs = find_runs(*roots)
    where = ", ".join(map(str, roots))
    if not runs:
        return f"Nothing to report: no run directories under {where}."
    by_status: dict[str, list[Path]] = {}
    for run, status in run_statuses(runs).items():
        by_status.setdefault(status, []).append(run)
    counts = ", ".join(f"{len(found)} {status}" for status, found in sorted(by_status.items()))
    reasons = [f"{run.name}: {failure_reason(run) or 'no reason recorded'}" for run in by_status.get("failed", [])[:3]]
    return (f"Nothing to report: no {what} under {where}. Found {len(runs)} run{'s' if len(runs) > 1 else ''} "
            f"({counts})." + (f" Failed: {'; '.join(reasons)}." if reasons else ""))


def end_report_if_empty(summaries: pd.DataFrame, *roots: str | Path, what: str = "finished runs") -> None:
    """In a report notebook: when ``summaries`` is empty, show why (``why_empty``) and end the notebook
    there, as a success: papermill takes ``SystemExit(0)`` as a clean end, and the rendered report shows
    the reason. Outside IPython an RftError says the same."""
    reason = why_empty(summaries, *roots, what=what)
    if reason is None:
        return
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        raise RftError(reason)
    display(Markdown(f"**{reason}**"))
    warnings.filterwarnings("ignore", "To exit: use")  # IPython's hint on SystemExit, not for a report
    raise SystemExit(0)


def read_config(run: Path) -> dict[str, Any]:
    """The run's config.yaml as a dict, checked for the keys every table groups by."""
    path = Path(run) / CONFIG
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RftError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(config, dict):
        raise RftError(f"{path} must hold a mapping of settings, got {type(config).__name__}")
    missing = [k for k in ("model", "strategy", "dataset", "seed") if k not in config]
    if missing:
        raise RftError(f"{path} lacks {', '.join(missing)}")
    return config


def read_records(run: Path) -> list[dict[str, Any]]:
    """The evaluations in the run's records.jsonl, in file order.

    A run killed mid-write can leave a truncated last line: it is skipped with a warning. A
    corrupt line anywhere else means the file is damaged and raises RftError.
    """
    path = Path(run) / RECORDS
    if not path.exists():
        raise RftError(f"cannot read {path}: no such file")
    records = _read_records_file(path)
    for lineno, record in enumerate(records, 1):
        missing = [k for k in REQUIRED_RECORD_FIELDS if record.get(k) is None]
        if missing:
            raise RftError(f"{path}:{lineno}: record lacks {', '.join(missing)}")
    return records


def _records_if_any(run: Path) -> list[dict[str, Any]]:
    """The run's records; none for a run that failed before its first evaluation."""
    return read_records(run) if (Path(run) / RECORDS).exists() else []


def read_summary(run: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None when there is none yet.

    An unreadable summary of an unfinished run (no ``done`` marker: killed while writing it) is
    ignored with a warning; that of a finished run raises RftError.
    """
    path = Path(run) / SUMMARY
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        if not (Path(run) / DONE).exists():
            warnings.warn(f"{path}: ignoring unreadable summary of an unfinished run ({exc})", stacklevel=3)
            return None
        raise RftError(f"{path}: corrupt summary ({exc})") from None
    return summary


def _identity(run: Path, config: dict[str, Any]) -> dict[str, Any]:
    return dict(run=run.name, model=config["model"], strategy=config["strategy"], dataset=config["dataset"],
                domain=config.get("domain"), seed=config["seed"], done=(run / DONE).exists(),
                objective=config.get("objective", "standard"))


def load_records(*roots_or_runs: str | Path, include_unfinished: bool = False) -> pd.DataFrame:
    """One row per evaluation of every finished run found under the arguments (roots or run
    directories); of every run with ``include_unfinished`` (see ``select_runs``).

    Columns: run (directory name), model, strategy, dataset, domain, seed, done (bool), objective, then the
    record fields step, epoch, lr, train_loss, train_acc, clean_acc, adv_acc, ood_acc,
    eval_seconds, train_seconds, then any further keys the records carry. Names are strings (domain missing
    outside DomainNet), step and seed integers, the rest floats with NaN where a value is null or
    absent (train_loss and train_acc at step 0, ood_acc without an OOD split). Rows are ordered by run path,
    then file order.
    """
    rows = []
    extra: list[str] = []
    runs, left_out = select_runs(*roots_or_runs, include_unfinished=include_unfinished)
    for run in runs:
        ident = _identity(run, read_config(run))
        for record in _records_if_any(run):
            extra += [k for k in record if k not in RECORD_FIELDS and k not in ID_COLUMNS and k not in extra]
            rows.append({**ident, **record})
    frame = pd.DataFrame(rows, columns=ID_COLUMNS + list(RECORD_FIELDS) + extra)
    frame = _typed(frame, ints=["seed", "step"], floats=list(RECORD_FIELDS[1:]))
    frame.attrs["left_out"] = left_out
    return frame


def _summary_row(run: Path) -> dict[str, Any]:
    config = read_config(run)
    records = _records_if_any(run)
    summary = read_summary(run) or {}
    row = _identity(run, config)
    row["status"] = run_status(run)
    row["n_evals"] = len(records)
    row["path"] = str(run)
    # summary.json is authoritative when present; every value falls back to the records.
    final = summary.get("final") or (max(records, key=lambda r: r["step"]) if records else {})
    row["final_step"] = final.get("step")
    for key in ("clean_acc", "adv_acc", "ood_acc"):
        row[f"final_{key}"] = final.get(key)
    if records:
        best = max(records, key=lambda r: r["adv_acc"])  # first of equal maxima, in file order
        points = [(r["clean_acc"], r["adv_acc"]) for r in records]
        row.update(best_adv_acc=best["adv_acc"], best_adv_step=best["step"], pareto_auc=pareto_auc(points))
    for key in ("best_adv_acc", "best_adv_step", "pareto_auc", "trainable_fraction"):
        if summary.get(key) is not None:
            row[key] = summary[key]
    row.update(summary_fields(records, summary))  # per-attack AUCs, end-of-run AutoAttack
    return row


def load_summaries(*roots_or_runs: str | Path, include_unfinished: bool = False) -> pd.DataFrame:
    """One row per finished run found under the arguments (roots or run directories); per run,
    finished or not, with ``include_unfinished`` (see ``select_runs``).

    Columns: run, model, strategy, dataset, domain, seed, done, objective, status (done, failed, running,
    unfinished: ``rftlib.runs.rundir.run_status``), n_evals, final_step,
    final_clean_acc, final_adv_acc, final_ood_acc, best_adv_acc, best_adv_step, pareto_auc,
    trainable_fraction, path. Values come from summary.json when the run wrote one; otherwise
    from its records (final = the record of the highest step, best = the first record with the
    highest adv_acc, pareto_auc = ``rftlib.stats.pareto.pareto_auc`` of its (clean_acc, adv_acc)
    points), which is what unfinished runs have. trainable_fraction exists only in summary.json (NaN
    without one); a run with no evaluation yet has NaN results. Then, where runs have them,
    ``pareto_auc_<label>`` per attack and the end-of-run AutoAttack columns of
    ``AUTOATTACK_COLUMNS`` (NaN for runs without).
    """
    runs, left_out = select_runs(*roots_or_runs, include_unfinished=include_unfinished)
    rows = [_summary_row(run) for run in runs]
    extra = list(dict.fromkeys(k for row in rows for k in row if k not in SUMMARY_COLUMNS))
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS + extra)
    frame = _typed(frame, ints=["seed", "n_evals"], nullable_ints=["final_step", "best_adv_step"],
                   floats=["final_clean_acc", "final_adv_acc", "final_ood_acc", "best_adv_acc",
                           "pareto_auc", "trainable_fraction"])
    frame["path"] = frame["path"].astype("str")
    frame["status"] = frame["status"].astype("str")
    frame.attrs["left_out"] = left_out
    numeric = [c for c in extra if c.startswith("pareto_auc_") or c in AUTOATTACK_COLUMNS]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce").astype("float64")
    return frame


def _typed(frame: pd.DataFrame, ints: list[str], floats: list[str], nullable_ints: Iterable[str] = ()
           ) -> pd.DataFrame:
    """Give the frame stable dtypes whatever the rows held (None, ints where floats go, no rows)."""
    for col in _NAME_COLUMNS:
        frame[col] = frame[col].astype("str").where(frame[col].notna())
    frame["done"] = frame["done"].astype(bool)
    for col in ints:
        frame[col] = frame[col].astype("int64")
    for col in nullable_ints:
        frame[col] = frame[col].astype("Int64")
    for col in floats:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def _check_columns(summaries: pd.DataFrame, columns: Iterable[str]) -> None:
    if not isinstance(summaries, pd.DataFrame):
        raise RftError(f"expected the frame from load_summaries, got {type(summaries).__name__}")
    missing = [c for c in columns if c not in summaries.columns]
    if missing:
        raise RftError(f"summaries lack column(s) {', '.join(missing)}; have: {', '.join(map(str, summaries.columns))}")


def auc_stats(summaries: pd.DataFrame, by: Iterable[str] = ("strategy", "dataset"),
              value: str = "pareto_auc") -> pd.DataFrame:
    """Mean, standard deviation (ddof 1; NaN for one run) and number of runs of ``value`` per
    group of ``by``, in long form: one row per group."""
    by = list(by)
    _check_columns(summaries, by + [value])
    grouped = summaries.dropna(subset=[value]).groupby(by, dropna=False, observed=True)[value]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def auc_table(summaries: pd.DataFrame, by: Iterable[str] = ("strategy", "dataset"),
              value: str = "pareto_auc") -> pd.DataFrame:
    """The paper's AUC table: mean ``value`` over the runs (seeds) of each cell, ``by[0]`` as
    rows and ``by[1]`` as columns (strategies x datasets by default; use ("strategy", "domain")
    for DomainNet). Feed it to ``rftlib.stats.pareto.percent_above_average`` for "% above average".
    Three columns split the rows by the first, e.g. ("objective", "strategy", "dataset"): one block of
    strategies per training objective (rows indexed by (objective, strategy))."""
    by = _layout(by, "auc_table")
    stats = auc_stats(summaries, by, value)
    table = stats.pivot(index=by[:-1] if len(by) == 3 else by[0], columns=by[-1], values="mean")
    table.columns.name = by[-1]
    return table


def _layout(by: Iterable[str], what: str) -> list[str]:
    by = list(by)
    if len(by) not in (2, 3):
        raise RftError(f"{what} needs two columns to lay out (rows, columns), or three (split, rows, columns), "
                       f"got {by}")
    return by


def auc_table_text(summaries: pd.DataFrame, by: Iterable[str] = ("strategy", "dataset"),
                   value: str = "pareto_auc", digits: int = 2) -> pd.DataFrame:
    """``auc_table`` as "mean ± std" strings (the mean alone where a cell has one run)."""
    by = _layout(by, "auc_table_text")
    stats = auc_stats(summaries, by, value)

    def cell(row: pd.Series) -> str:
        if row["n"] < 2 or not math.isfinite(row["std"]):
            return f"{row['mean']:.{digits}f}"
        return f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"

    stats["text"] = stats.apply(cell, axis=1) if len(stats) else pd.Series(dtype="str")
    return stats.pivot(index=by[:-1] if len(by) == 3 else by[0], columns=by[-1], values="text")


def distinguish_datasets(frame: pd.DataFrame, summaries: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (records or summaries) with runs of one dataset under different ``dataset_options``
    told apart: their ``dataset`` becomes ``name[option=value, ...]`` with the options that differ
    (e.g. ``feature_model[nonrobust_strength=0]``, a control beside the task), so every table and
    figure grouping by dataset keeps them apart instead of pooling them as seeds. Runs with domains
    are left alone (the domain tells them apart). ``summaries`` (``load_summaries``) gives each run's
    directory."""
    _check_columns(frame, ["run", "dataset"])
    _check_columns(summaries, ["run", "path", "dataset", "domain"])
    options = {row["run"]: read_config(Path(row["path"])).get("dataset_options") or {}
               for _, row in summaries[summaries["domain"].isna()].iterrows()}
    names = {}
    for dataset, runs in summaries[summaries["domain"].isna()].groupby("dataset"):
        per_run = {run: options[run] for run in runs["run"]}
        keys = sorted({k for o in per_run.values() for k in o})
        differing = [k for k in keys if len({json.dumps(o.get(k), sort_keys=True) for o in per_run.values()}) > 1]
        for run, opts in per_run.items():
            shown = ", ".join(f"{k}={opts.get(k)}" for k in differing if k in opts)
            names[run] = f"{dataset}[{shown}]" if shown else dataset
    frame = frame.copy()
    frame["dataset"] = frame["run"].map(names).fillna(frame["dataset"])
    return frame
