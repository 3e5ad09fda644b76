"""The numerics environment of a run: what, besides the configuration, decides its floating-point results.

Records are bit-identical between two runs (or a run killed and resumed) only in the same numerics
environment: device type (and GPU model, CUDA and cuDNN versions), torch version, CPU threads (on
the CPU, matrix products split their sums by thread), precision and the deterministic / TF32 flags.
A run writes its environment to ``numerics.json`` when it starts, and a resume under a different one
is refused with one line, unless forced (the records then mix two environments, and
``numerics.json`` lists the earlier one under ``previous``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rftlib.core.atomic import atomic_write_text
from rftlib.core.errors import RftError

if TYPE_CHECKING:
    import torch

NUMERICS = "numerics.json"
FORCE_VARIABLE = "RFT_FORCE_RESUME"  # "1": resume under another environment (how a sweep forwards --force-resume)


def numerics_environment(device: torch.device, precision: str) -> dict[str, Any]:
    """The settings that change this process's floating-point results on ``device``."""
    import torch

    env: dict[str, Any] = {
        "device_type": device.type,
        "torch": torch.__version__,
        "precision": precision,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    if device.type == "cpu":
        env["threads"] = torch.get_num_threads()
    elif device.type == "cuda":
        env.update(device_name=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), cudnn_deterministic=torch.backends.cudnn.deterministic,
                   cudnn_benchmark=torch.backends.cudnn.benchmark,
                   tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_cudnn=torch.backends.cudnn.allow_tf32)
    return env


def force_resume_default() -> bool:
    return os.environ.get(FORCE_VARIABLE, "") not in ("", "0")


def pin_numerics(run_dir: Path, env: dict[str, Any], *, resuming: bool, force: bool) -> None:
    """Write ``env`` to ``<run_dir>/numerics.json``; when ``resuming``, first check it against the
    one stored there: a difference is an RftError naming it, unless ``force``."""
    path = Path(run_dir) / NUMERICS
    stored: dict[str, Any] = {}
    if resuming and path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
    previous = stored.pop("previous", [])
    changed = {k: (stored.get(k), env.get(k)) for k in sorted(set(stored) | set(env)) if stored.get(k) != env.get(k)}
    if stored and changed:
        if not force:
            shown = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
            raise RftError(f"{run_dir} was started under another numerics environment ({shown}); its records "
                           f"would not match an uninterrupted run. Resume where it started, or force it "
                           f"(rft run/sweep --force-resume, finetune(force_resume=True))")
        previous = [*previous, stored]
    atomic_write_text(path, json.dumps({**env, **({"previous": previous} if previous else {})}, indent=2))
