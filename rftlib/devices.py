"""Where and in what precision code runs: device names from configs and CLIs, bf16 autocast."""
from __future__ import annotations

from contextlib import nullcontext

import torch

from .errors import RftError


# The device types a run can train on, and how the error message lists them.
RUN_DEVICE_TYPES = ("cpu", "cuda", "mps")
RUN_DEVICES = "auto, cpu, cuda, cuda:N, mps"


def parse_device(name: str) -> torch.device | None:
    """The device ``name`` names ("auto": None), whether or not this machine has it: a configuration
    may be written here for a run on another machine. RftError for a name that is no run device."""
    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in RUN_DEVICE_TYPES:
        hint = " (a CUDA GPU is 'cuda' or 'cuda:N')" if str(name).lower().startswith("gpu") else ""
        raise RftError(f"unknown device {name!r}{hint}; valid: {RUN_DEVICES}")
    return device


def resolve_device(name: str) -> torch.device:
    """"auto" (CUDA when available, else CPU) or any torch device name; a CUDA device asked for on a
    machine without CUDA is an error, not a silent fall-back to the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = parse_device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RftError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RftError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                       f"device(s): cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RftError(f"device {name!r} asked for, but MPS is not available here; use cpu or auto")
    return device


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on ``device`` for precision "bf16"; no-op for "fp32"."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
