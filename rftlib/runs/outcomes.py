"""Per-sample outcomes of each evaluation: which evaluation points were classified correctly on clean
inputs, which stayed robust under each attack, which OOD / extra-set points were classified correctly.

Accuracies are means of these flags; keeping the flags makes every interval exact and lets two
evaluations of one run be compared point by point (paired). One compressed file per evaluation,
``<run_dir>/outcomes/step_0000050.npz``, holding boolean arrays in evaluation-subset order:

- ``clean``: correct on the clean input;
- ``robust``: correct under every configured attack (the worst case; False where ``clean`` is False);
- ``robust_<label>``: correct under the attack labelled ``<label>``;
- ``ood``: correct on the OOD subset (its own order and length);
- ``<name>``: correct on the extra clean-only set ``<name>`` (e.g. a corruption).

Each file is written atomically (temporary file, fsync, rename) before its record is appended, and a
resumed run drops the files of steps past its checkpoint, so files and records always agree.
Light to import (numpy only).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from rftlib.core.atomic import atomic_write
from rftlib.core.errors import RftError

OUTCOMES = "outcomes"
_FILE = re.compile(r"^step_(\d+)\.npz$")


def outcome_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / OUTCOMES / f"step_{int(step):07d}.npz"


def write_outcomes(run_dir: str | Path, step: int, outcomes: dict[str, np.ndarray]) -> Path:
    """Write one evaluation's boolean per-sample outcomes, atomically."""
    path = outcome_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = {k: np.asarray(v, dtype=bool) for k, v in outcomes.items()}
    return atomic_write(path, lambda tmp: save_npz(tmp, flags))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` to exactly ``path``."""
    # Through a file handle: given a name not ending in .npz (our temporary file), numpy appends one.
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def outcome_steps(run_dir: str | Path) -> list[int]:
    """The steps that have an outcomes file, ascending."""
    folder = Path(run_dir) / OUTCOMES
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _FILE.match(p.name)))


def read_step_outcomes(run_dir: str | Path, step: int) -> dict[str, np.ndarray]:
    """One evaluation's outcomes; RftError naming the file when it is missing or damaged."""
    path = outcome_path(run_dir, step)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k].astype(bool) for k in data.files}
    except FileNotFoundError:
        raise RftError(f"no per-sample outcomes for step {step}: {path} does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # truncated or not an .npz
        raise RftError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def read_outcomes(run_dir: str | Path) -> dict[int, dict[str, np.ndarray]]:
    """Every evaluation's outcomes by step (ascending); empty for runs written before outcomes existed."""
    return {step: read_step_outcomes(run_dir, step) for step in outcome_steps(run_dir)}


def drop_outcomes_after(run_dir: str | Path, step: int) -> None:
    """Delete the outcomes of steps after ``step`` (redone on resume from a checkpoint at ``step``)."""
    for later in outcome_steps(run_dir):
        if later > step:
            outcome_path(run_dir, later).unlink(missing_ok=True)


__all__ = ["OUTCOMES", "write_outcomes", "read_outcomes", "read_step_outcomes", "outcome_steps",
           "drop_outcomes_after", "outcome_path", "save_npz"]
