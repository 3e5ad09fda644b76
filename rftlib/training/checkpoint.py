"""Resumable checkpoints: the trainable state, optimiser, scheduler, RNG and step, written atomically
(temporary file, fsync, rename) so a kill at any moment leaves the previous checkpoint intact."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from rftlib.core.atomic import atomic_write
from rftlib.core.errors import RftError
from rftlib.models import load_error_summary
from rftlib.runs.rundir import CHECKPOINT
from rftlib.core.seeding import set_torch_rng_state, torch_rng_state

FINAL_WEIGHTS = "trainable.safetensors"


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors training changes, by name (a shared parameter once): the trainable parameters
    (adapters and head, or everything for full fine-tuning) and the running statistics of every
    BatchNorm that trains (they move with its weights; a ResNet rebuilt without them would normalise
    with the pretrained ones). Frozen weights are rebuilt from the pretrained source on resume."""
    state = {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}
    state.update((name, b.detach().cpu().clone()) for name, b in _training_statistics(model).items())
    return state


def _training_statistics(model: nn.Module) -> dict[str, torch.Tensor]:
    """Buffers of the BatchNorms with a trainable parameter (frozen ones keep their statistics:
    rftlib.strategies._batchnorm); none in a ViT."""
    return {f"{prefix}.{name}" if prefix else name: buffer
            for prefix, module in model.named_modules() if isinstance(module, _BatchNorm)
            and any(p.requires_grad for p in module.parameters(recurse=False))
            for name, buffer in module.named_buffers(recurse=False) if buffer is not None}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    targets = {name: p for name, p in params.items() if p.requires_grad} | _training_statistics(model)
    if set(state) != set(targets):
        missing, extra = sorted(set(targets) - set(state)), sorted(set(state) - set(targets))
        raise RftError(f"checkpoint does not match the model: missing {missing[:3]}, unexpected {extra[:3]}")
    with torch.no_grad():
        for name, tensor in state.items():
            targets[name].copy_(tensor)


def save_checkpoint(run_dir: Path, *, model, optimizer, scheduler, step: int, extra: dict) -> None:
    state = {
        "step": step,
        "trainable": trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch_rng_state(),
        "extra": extra,
    }
    atomic_write(run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def load_checkpoint(run_dir: Path, *, model, optimizer, scheduler) -> dict | None:
    """Restore the state saved by ``save_checkpoint``; None when there is none. Loaded with
    ``weights_only=True``: a checkpoint can hold tensors and plain data, never code."""
    path = run_dir / CHECKPOINT
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - truncated, corrupt or not ours: one line, how to start over
        raise RftError(f"cannot resume from {path}: {load_error_summary(error)}; to start this run over from step 0, "
                       f"delete it (rm {path}) and run again") from None
    load_trainable_state(model, state["trainable"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_torch_rng_state(state["rng"])
    return {"step": state["step"], **state["extra"]}


def save_final_weights(run_dir: Path, model: nn.Module, metadata: dict[str, str], name: str = FINAL_WEIGHTS) -> None:
    """The fine-tuned trainable tensors as safetensors, the run's portable result: byte-identical
    for identical runs, with the permissions of every other file the run writes."""
    tensors = {k: v.contiguous() for k, v in trainable_state(model).items()}
    data = canonical_safetensors(save(tensors, metadata=metadata))
    atomic_write(run_dir / name, lambda tmp: tmp.write_bytes(data))


def canonical_safetensors(data: bytes) -> bytes:
    """``data`` (a safetensors file) with its JSON header's keys sorted. safetensors writes the
    metadata from a hash map, in an order that changes from process to process; sorting keeps
    the same header length (the same keys and values), so the tensors' offsets do not move."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if len(canonical) > length:  # escapes written differently: keep the library's header
        return data
    return data[:8] + canonical.ljust(length) + data[8 + length:]  # the format allows trailing spaces
