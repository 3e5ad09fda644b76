"""The cost of a fine-tuning step under each training objective (rftlib.training.objectives).

The step is the training loop's (``training_step``) with full fine-tuning, AdamW with its defaults,
gradient clipping at 1.0, under each precision of the benchmark; the adversarial objectives run their
training attack (eps 1/255, step eps/4, ``steps`` steps) first. Each objective gets its own model,
built alike, timed round-robin against the standard step, and is reported as a multiple of it: the
price of adversarial fine-tuning. Expected: about 1 + steps x (attack step / training step) for
pgd_at, one forward pass more for TRADES (the clean and the adversarial logits).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rftlib.strategies import apply_strategy, training_defaults
from rftlib.training.objectives import OBJECTIVES, make_objective
from rftlib.training.optim import make_optimizer
from rftlib.training.step import training_step
from rftlib.bench.timing import Peer, record_timings

STRATEGY = "full"


def bench_objectives(build: Callable[[], nn.Module], images: torch.Tensor, labels: torch.Tensor, *,
                     precisions: tuple[str, ...], repeats: int, attack_steps: int, eps: float) -> list[dict]:
    """One dict per objective and precision: status, median seconds per step (and every time),
    images/s and ``x_standard``, the step's time over the standard step's in the same precision."""
    defaults = training_defaults(STRATEGY)
    rows, peers = {}, []
    for precision in precisions:
        for name in OBJECTIVES:
            if OBJECTIVES.get(name).clip_only:  # FLYP needs an open_clip model's text tower, not the bench's ViT
                continue
            label = f"{name} {precision}"
            options = {} if name == "standard" else {"steps": attack_steps}
            objective = make_objective(name, seed=0, eval_eps=eps, **options)
            model = apply_strategy(build(), STRATEGY).to(images.device).train()
            optimizer = make_optimizer(model, lr=defaults["lr"], weight_decay=defaults["weight_decay"],
                                       betas=(0.9, 0.999), eps=1e-8)
            rows[label] = {"name": label, "objective": name, "precision": precision, "strategy": STRATEGY,
                           "attack_steps": options.get("steps")}

            def step(model=model, optimizer=optimizer, objective=objective, precision=precision):
                training_step(model, optimizer, images, labels, precision=precision, grad_clip=1.0,
                              check_finite=False, objective=objective, step=0)

            peers.append(Peer(label, step))

    record_timings(rows, peers, repeats, images.device)
    for row in rows.values():
        if row["status"] == "ok":
            row["images_per_s"] = len(images) / row["seconds"]
    for row in rows.values():
        standard = rows[f"standard {row['precision']}"]
        if row["status"] == "ok" and standard["status"] == "ok":
            row["x_standard"] = row["seconds"] / standard["seconds"]
    return list(rows.values())
