"""What rftlib reads as weights, told from a file's first bytes (never unpickled, no torch): a
safetensors file or a torch checkpoint. ``rftlib.runs.preflight`` checks a run's ``weights`` with it before
anything loads; ``rftlib.models`` names the same formats when a load fails."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

from rftlib.core.errors import RftError

SAFE_WEIGHT_FORMATS = "a .safetensors file, or a torch checkpoint of tensors and plain data (weights-only)"

# The first bytes of the files rftlib takes as weights.
ZIP_MAGIC = b"PK\x03\x04"  # torch.save since torch 1.6 (a zip archive)
# torch.save's legacy format is a pickle whose first object is torch's magic number.
LEGACY_TORCH_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]  # without the STOP opcode
PICKLE_PROTOCOL = 0x80  # a pickle of protocol 2 or later starts with PROTO


def weights_format(path: Path) -> str:
    """"safetensors", "torch" (a zip or legacy torch checkpoint), read from the file's first bytes;
    RftError naming the formats rftlib takes for anything else (a pickle is never unpickled)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
            size = path.stat().st_size
    except OSError as error:
        raise RftError(f"cannot read weights file {str(path)!r}: {error.strerror or error}") from None
    if head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_TORCH_MAGIC):
        return "torch"
    header_length = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
    if 0 < header_length <= size - 8 and head[8:9] == b"{":  # safetensors: u64 length, then a JSON header
        return "safetensors"
    if head[:1] == bytes([PICKLE_PROTOCOL]):
        what = "a Python pickle, not a torch checkpoint"
    elif not head:
        what = "empty"
    else:
        what = "in no format rftlib reads (not safetensors, not a torch checkpoint)"
    raise RftError(f"weights file {str(path)!r} is {what}; rftlib loads {SAFE_WEIGHT_FORMATS}")


def load_error_summary(error: Exception, limit: int = 240) -> str:
    """One line from a (possibly many-line) exception: torch lists every mismatched tensor. A file
    that needs code to load is named as such; torch's advice to load it with weights_only=False
    (running whatever code it holds) is never repeated."""
    if isinstance(error, pickle.UnpicklingError):
        culprit = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        what = f" (it asks to run {culprit.group(1)})" if culprit else ""
        return f"not a safe checkpoint{what}; rftlib loads {SAFE_WEIGHT_FORMATS}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines[:2]) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["SAFE_WEIGHT_FORMATS", "load_error_summary", "weights_format"]
