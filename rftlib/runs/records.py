"""A run directory's files, and records.jsonl: one JSON line per evaluation, flushed and synced as
written, so a killed run loses nothing it reported. Written by the training loop, read by
``rftlib.analysis.results``; light to import (no torch)."""
from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from pathlib import Path

from rftlib.core.atomic import atomic_write_text
from rftlib.core.disk import disk_problem
from rftlib.core.errors import RftError

# The files of a run directory; `done` is written last, when the run has finished.
CONFIG, RECORDS, SUMMARY, DONE = "config.yaml", "records.jsonl", "summary.json", "done"

# train_loss / train_acc: means over the training batches since the previous evaluation (None at step 0);
# clean_acc / adv_acc / ood_acc: on the fixed evaluation subsets (ood_acc None without domains);
# adv_acc: correct under every configured attack (the per-sample worst case; only points correct on clean
# inputs are attacked); eval_seconds: this evaluation's time; train_seconds: training time so far,
# evaluations excluded. Records also hold adv_acc_<label> per attack and <name>_acc per extra set.
RECORD_FIELDS = (
    "step", "epoch", "lr", "train_loss", "train_acc", "clean_acc", "adv_acc", "ood_acc",
    "eval_seconds", "train_seconds",
)
# Wall-clock fields: they differ between two otherwise identical runs.
TIMING_FIELDS = ("eval_seconds", "train_seconds")


def json_value(value):
    """A metric as JSON writes it: a non-finite float becomes null."""
    # JSON has no NaN: missing metrics (no OOD split, no training yet) are null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def append_record(path: Path, record: dict) -> None:
    """Append one evaluation: the RECORD_FIELDS first, then any further keys (``adv_acc_<label>`` per
    attack, ``<name>_acc`` per extra set) in the record's order."""
    keys = list(RECORD_FIELDS) + [k for k in record if k not in RECORD_FIELDS]
    line = json.dumps({k: json_value(record.get(k)) for k in keys})
    data = (line + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)  # unbuffered, so a failed write can be undone
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as error:  # a full disk: no half line stays behind, and one line says why
            problem = disk_problem(error, path, "appending a record to")
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise (problem or error) from None
    finally:
        os.close(fd)


def read_records(path: Path) -> list[dict]:
    """The evaluations in a records.jsonl, in file order.

    A run killed mid-write can leave a truncated last line: it is skipped with a warning. A corrupt
    line anywhere else means the file is damaged and raises RftError. A missing file has no records.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise RftError(f"cannot read {path}: {exc}") from None
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    records = []
    for pos, (lineno, line) in enumerate(numbered):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if pos == len(numbered) - 1:
                warnings.warn(f"{path}:{lineno}: skipping unreadable last line (run interrupted?)", stacklevel=2)
                break
            raise RftError(f"{path}:{lineno}: corrupt record ({exc})") from None
        records.append(record)
    return records


def keep_records_up_to(path: Path, step: int) -> list[dict]:
    """Rewrite ``path`` (atomically) with the records of steps <= ``step`` only: on resume from a
    checkpoint at ``step``, later records are redone, so they must not be duplicated."""
    kept = [r for r in read_records(path) if r["step"] <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
    return kept
