"""Where and in what precision code runs: device names from configs and CLIs, bf16 autocast."""
from __future__ import annotations

from contextlib import nullcontext

import torch

from .errors import RftError


def resolve_device(name: str) -> torch.device:
    """"auto" (CUDA when available, else CPU) or any torch device name; a CUDA device asked for on a
    machine without CUDA is an error, not a silent fall-back to the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise RftError(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RftError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    return device


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on ``device`` for precision "bf16"; no-op for "fp32"."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
