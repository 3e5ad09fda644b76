"""A linear-probe head fitted on the FROZEN pretrained backbone: LP-FT's first stage (Kumar et al.,
"Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution", ICLR 2022) and the
default start point of WiSE-FT (Wortsman et al., CVPR 2022). One implementation for both.

The head is trained on a private copy of the model with the ``linear_probe`` strategy (only the
classifier trains; a BatchNorm keeps its pretrained statistics), so the model passed in, and its
backbone, are left bit-identical. AdamW at a constant learning rate, no weight decay, the run's
gradient clipping and precision, and the run's objective machinery (``rftlib.training.objectives``):
a robust objective here (pgd_at, trades) is RoLI's robust linear initialisation (Hua et al., CVPR 2024).
Batches are seeded permutations of the training split drawn from (seed, PROBE_STREAM, epoch), and the
fit runs inside ``preserved_rng``: the caller's random stream is untouched, so an LP-FT run initialises
its strategy exactly as the plain run does, and a refit gives bit-identical weights.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rftlib.core.atomic import atomic_write
from rftlib.core.errors import RftError
from rftlib.core.progress import progress_bar
from rftlib.core.seeding import derived_seed, preserved_rng

PROBE_HEAD = "probe_head.safetensors"
#: Mixed into the probe stage's seeds so its batch order and attack starts never repeat the run's.
PROBE_STREAM = 0x70726F6265  # "probe"


def head_names(model: nn.Module) -> list[str]:
    """The parameter names (in ``model``) of the classifier head(s), which a fresh model initialises."""
    from rftlib.strategies import backbone_of, classifier_modules

    heads = {id(p) for module in classifier_modules(backbone_of(model)) for p in module.parameters()}
    return [name for name, p in model.named_parameters() if id(p) in heads]


def fit_probe_head(model: nn.Module, train: Dataset, *, steps: int, lr: float, batch_size: int, seed: int,
                   objective: str = "standard", objective_options: dict | None = None, precision: str = "fp32",
                   grad_clip: float | None = 1.0, betas=(0.9, 0.999), adam_eps: float = 1e-8,
                   device: torch.device | str = "cpu", num_workers: int = 0,
                   progress: bool = False) -> dict[str, torch.Tensor]:
    """Fit the head of ``model`` (a fresh ``build_model`` with no strategy applied) on its frozen
    features for ``steps`` AdamW steps at constant ``lr``; returns the head's tensors by parameter name
    (on the CPU). ``model`` itself is not changed."""
    from rftlib.strategies import apply_strategy
    from rftlib.training.objectives import make_objective
    from rftlib.training.optim import make_optimizer
    from rftlib.training.step import training_step

    if getattr(model, "rft_strategy", None) is not None:
        raise RftError("the probe head is fitted on the pretrained model, before any strategy is applied")
    with preserved_rng():
        probe = apply_strategy(copy.deepcopy(model), "linear_probe").to(device).train()
        optimizer = make_optimizer(probe, lr=lr, weight_decay=0.0, betas=betas, eps=adam_eps)
        fit = make_objective(objective, seed=derived_seed(seed, PROBE_STREAM), **(objective_options or {}))
        steps_per_epoch = math.ceil(len(train) / batch_size)
        bar = progress_bar(total=steps, desc="probe head", unit="step", disable=not progress)
        step = 0
        while step < steps:
            epoch = step // steps_per_epoch
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(
                derived_seed(seed, PROBE_STREAM, epoch))).tolist()
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            for images, labels in DataLoader(train, batch_sampler=batches, num_workers=num_workers):
                loss, _ = training_step(probe, optimizer, images.to(device), labels.to(device), precision=precision,
                                        grad_clip=grad_clip, objective=fit, step=step)
                if not torch.isfinite(loss):
                    raise RftError(f"the probe head's loss is {loss.item()} at probe step {step + 1}; "
                                   f"lower lp_ft lr ({lr})")
                step += 1
                bar.update(1)
                if step >= steps:
                    break
        bar.close()
        names = set(head_names(probe))
        return {name: p.detach().cpu().clone() for name, p in probe.named_parameters() if name in names}


def set_head(model: nn.Module, head: dict[str, torch.Tensor]) -> None:
    """Copy a fitted head into ``model`` (with or without a strategy applied: head names do not change)."""
    params = dict(model.named_parameters())
    if set(head) != set(head_names(model)):
        raise RftError(f"the probe head does not fit the model: it has {sorted(head)}, "
                       f"the model's head is {head_names(model)}")
    with torch.no_grad():
        for name, tensor in head.items():
            params[name].copy_(tensor)


def save_head(path: str | Path, head: dict[str, torch.Tensor]) -> None:
    """Write a head atomically, byte-identical for identical heads."""
    from rftlib.training.checkpoint import canonical_safetensors

    data = canonical_safetensors(save({k: v.contiguous() for k, v in head.items()}))
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def load_head(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


__all__ = ["PROBE_HEAD", "fit_probe_head", "head_names", "load_head", "save_head", "set_head"]
