"""Where and in what precision code runs: device names from configs and CLIs, bf16 autocast.

Device names are parsed without torch (a configuration is refused in one line without loading it);
torch is imported where a device is made or its presence checked."""
from __future__ import annotations

import re
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from rftlib.core.errors import RftError

if TYPE_CHECKING:
    import torch


# The device types a run can train on, and how the error message lists them.
RUN_DEVICE_TYPES = ("cpu", "cuda", "mps")
RUN_DEVICES = "auto, cpu, cuda, cuda:N, mps"


class DeviceName(NamedTuple):
    """A parsed device name: its type ("cpu", "cuda", "mps") and index (None where not given)."""

    type: str
    index: int | None


# torch.device's grammar for the run device types: a type, then optionally ":N" without leading zeros.
_DEVICE_NAME = re.compile(rf"({'|'.join(RUN_DEVICE_TYPES)})(?::(0|[1-9][0-9]*))?")


def parse_device(name: str) -> DeviceName | None:
    """The device ``name`` names ("auto": None), whether or not this machine has it: a configuration
    may be written here for a run on another machine. RftError for a name that is no run device.
    Parsed as ``torch.device`` parses it, without importing torch."""
    if name == "auto":
        return None
    match = _DEVICE_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        hint = " (a CUDA GPU is 'cuda' or 'cuda:N')" if str(name).lower().startswith("gpu") else ""
        raise RftError(f"unknown device {name!r}{hint}; valid: {RUN_DEVICES}")
    return DeviceName(match.group(1), None if match.group(2) is None else int(match.group(2)))


# Where Linux shows a GPU driver: NVIDIA's kernel module, and ROCm's (torch.cuda runs on AMD GPUs there).
GPU_DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/kfd")


def _cuda_absent(name: str) -> str:
    return f"device {name!r} asked for, but CUDA is not available here; use cpu or auto"


def no_gpu_driver() -> bool:
    """True on a Linux machine without any GPU driver: there CUDA cannot be available, which is known
    without importing torch (2-4 s). False elsewhere, and where a driver exists (torch must tell)."""
    return sys.platform.startswith("linux") and not any(Path(path).exists() for path in GPU_DRIVER_PATHS)


def check_gpu_driver(name: str) -> None:
    """Refuse a CUDA device where ``no_gpu_driver``; otherwise ``resolve_device`` asks torch."""
    device = parse_device(name)
    if device is not None and device.type == "cuda" and no_gpu_driver():
        raise RftError(_cuda_absent(name))


def resolve_device(name: str) -> torch.device:
    """"auto" (CUDA when available, else CPU) or any torch device name; a CUDA device asked for on a
    machine without CUDA is an error, not a silent fall-back to the CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = parse_device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RftError(_cuda_absent(name))
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RftError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                       f"device(s): cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RftError(f"device {name!r} asked for, but MPS is not available here; use cpu or auto")
    return torch.device(device.type, device.index)


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on ``device`` for precision "bf16"; no-op for "fp32"."""
    import torch

    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
