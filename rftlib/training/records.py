"""records.jsonl: one JSON line per evaluation, flushed and synced as written, so a killed run
loses nothing it reported."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

# train_loss / train_acc: means over the training batches since the previous evaluation (None at step 0);
# clean_acc / adv_acc / ood_acc: on the fixed evaluation subsets (ood_acc None without domains);
# eval_seconds: this evaluation's time; train_seconds: training time so far, evaluations excluded.
RECORD_FIELDS = (
    "step", "epoch", "lr", "train_loss", "train_acc", "clean_acc", "adv_acc", "ood_acc",
    "eval_seconds", "train_seconds",
)
# Wall-clock fields: they differ between two otherwise identical runs.
TIMING_FIELDS = ("eval_seconds", "train_seconds")


def _clean(value):
    # JSON has no NaN: missing metrics (no OOD split, no training yet) are null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def append_record(path: Path, record: dict) -> None:
    line = json.dumps({k: _clean(record.get(k)) for k in RECORD_FIELDS})
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_records(path: Path) -> list[dict]:
    """The records of a run; a torn last line (the process died mid-write) is dropped."""
    if not path.exists():
        return []
    records = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise
    return records


def keep_records_up_to(path: Path, step: int) -> list[dict]:
    """Rewrite ``path`` (atomically) with the records of steps <= ``step`` only: on resume from a
    checkpoint at ``step``, later records are redone, so they must not be duplicated."""
    kept = [r for r in read_records(path) if r["step"] <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    os.replace(tmp, path)
    return kept
