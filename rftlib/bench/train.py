"""Fine-tuning step throughput of each of the seven strategies.

A step is the training loop's own (rftlib.training.step.training_step): forward under the run's
precision, cross-entropy, backward, gradient clipping at norm 1, AdamW with the strategy's default
settings. The loop's per-step host reads (finite-loss check, progress bar) are left out; they are one
device sync each.
Every strategy gets its own model, built alike, and the models are timed round-robin.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rftlib.core.errors import RftError
from rftlib.strategies import STRATEGIES, apply_strategy, trainable_parameters, training_defaults
from rftlib.training.optim import make_optimizer
from rftlib.training.step import training_step
from rftlib.bench.flops import train_step_flops
from rftlib.bench.timing import Peer, time_peers


def _step(model: nn.Module, forward: Callable, images: torch.Tensor, labels: torch.Tensor,
          precision: str) -> Callable[[], None]:
    """One training step of ``model`` (its strategy's optimiser), the forward pass through ``forward``
    (the model itself, or its torch.compile wrapper, which shares its parameters)."""
    defaults = training_defaults(model.rft_strategy[0])
    optimizer = make_optimizer(model, lr=defaults["lr"], weight_decay=defaults["weight_decay"],
                               betas=(0.9, 0.999), eps=1e-8)

    def step():
        training_step(forward, optimizer, images, labels, precision=precision, grad_clip=1.0,
                      check_finite=False)

    return step


def bench_train(build: Callable[[], nn.Module], images: torch.Tensor, labels: torch.Tensor, *,
                precisions: tuple[str, ...], repeats: int, compile: bool) -> list[dict]:
    """One dict per strategy and precision (and for full fine-tuning compiled, when ``compile``):
    status, median seconds per step (and every time), images/s, trainable parameters, FLOPs per
    image, achieved FLOP/s."""
    device = images.device
    cases = [(strategy, precision, False) for precision in precisions for strategy in STRATEGIES]
    if compile:
        cases += [("full", precision, True) for precision in precisions]
    rows, peers = {}, []
    for strategy, precision, compiled in cases:
        label = f"{strategy} {precision}" + (" +compile" if compiled else "")
        try:
            model = apply_strategy(build(), strategy).to(device).train()
        except RftError as error:  # a strategy the model's family refuses (adapters on a CNN)
            rows[label] = {"name": label, "strategy": strategy, "precision": precision, "compile": None,
                           "status": "unsupported", "note": str(error).split(";")[0], "trainable_params": None,
                           "total_params": None, "flops_per_image": None}
            continue
        trainable, total = trainable_parameters(model)
        flops = train_step_flops(model, images, labels) / len(images)
        rows[label] = {"name": label, "strategy": strategy, "precision": precision,
                       "compile": "default" if compiled else None, "trainable_params": trainable,
                       "total_params": total, "flops_per_image": flops}
        forward = torch.compile(model) if compiled else model
        peers.append(Peer(label, _step(model, forward, images, labels, precision)))

    for peer in time_peers(peers, repeats, device):
        row = rows[peer.name]
        if peer.error is not None:
            row.update(status="failed", note=peer.error)
            continue
        ips = len(images) / peer.median
        row.update(status="ok", seconds=peer.median, times=peer.times, images_per_s=ips,
                   flops_per_s=row["flops_per_image"] * ips)
    return list(rows.values())
