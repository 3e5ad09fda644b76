"""The cost of each RQ4 remedy against plain fine-tuning, in the same benchmark run.

Timed (the training loop's ``training_step``, full fine-tuning, round-robin against the plain step):

- ``l2_sp``: the plain step plus the penalty α/2‖w − w_start‖² + β/2‖w_head‖² (one pass over the trainable
  parameters, no extra forward or backward); its extra memory is the copy of the starting point, as many
  bytes as the trainable parameters (measured: the bytes of the stored tensors);
- ``eps_schedule`` (pgd_at): in its clean phase the step is the plain step (no attack runs); on the ramp
  and after it, the pgd_at step; both timed.

Counted, not timed (their cost is a number of passes of something already benchmarked):

- ``robust_val``: one more evaluation at every scheduled step, on the validation subset (clean + the
  attacks, at most ``eval_size`` points): up to 2x the evaluation time; on disk, one trainable-weights
  file per evaluation on the validation frontier;
- ``wise_ft``: one evaluation per α at the end of the run, plus the probe head's fit;
- ``lp_ft``: ``steps`` head-only training steps before fine-tuning (backward through the head only).

On CUDA each timed variant's peak allocated memory is measured too (one step after a reset).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rftlib.remedies.l2_sp import L2SP, WithL2SP
from rftlib.strategies import apply_strategy, training_defaults
from rftlib.training.objectives import make_objective
from rftlib.training.optim import make_optimizer
from rftlib.training.step import training_step
from rftlib.bench.timing import Peer, record_timings

STRATEGY = "full"
SCHEDULE = {"clean": 0.25, "ramp": 0.5}  # over 4 steps: step 0 clean, step 3 at the full eps


def bench_remedies(build: Callable[[], nn.Module], images: torch.Tensor, labels: torch.Tensor, *,
                   precision: str, repeats: int, attack_steps: int, eps: float) -> list[dict]:
    """One dict per timed variant: status, median seconds per step, ``x_plain`` (over the plain step),
    ``extra_bytes`` (state the remedy keeps) and, on CUDA, ``peak_bytes``; then the counted remedies."""
    defaults = training_defaults(STRATEGY)
    variants = {
        "plain": ("standard", {}, 0, False),
        "l2_sp": ("standard", {}, 0, True),
        "eps_schedule (clean phase)": ("pgd_at", {"steps": attack_steps, "eps_schedule": SCHEDULE}, 0, False),
        "eps_schedule (at full eps)": ("pgd_at", {"steps": attack_steps, "eps_schedule": SCHEDULE}, 3, False),
    }
    rows, peers = {}, []
    for label, (name, options, step, with_l2_sp) in variants.items():
        model = apply_strategy(build(), STRATEGY).to(images.device).train()
        objective = make_objective(name, seed=0, eval_eps=eps, total_steps=4, **options)
        extra = 0
        if with_l2_sp:
            penalty = L2SP(model, alpha=0.01, beta=0.01)
            extra = sum(start.numel() * start.element_size() for start in penalty.starting_point().values())
            objective = WithL2SP(objective, penalty)
        optimizer = make_optimizer(model, lr=defaults["lr"], weight_decay=defaults["weight_decay"],
                                   betas=(0.9, 0.999), eps=1e-8)
        rows[label] = {"name": label, "kind": "timed", "precision": precision, "extra_bytes": extra}

        def run(model=model, optimizer=optimizer, objective=objective, step=step):
            training_step(model, optimizer, images, labels, precision=precision, grad_clip=1.0,
                          check_finite=False, objective=objective, step=step)

        if images.device.type == "cuda":
            torch.cuda.synchronize(images.device)
            torch.cuda.reset_peak_memory_stats(images.device)
            run()
            torch.cuda.synchronize(images.device)
            rows[label]["peak_bytes"] = torch.cuda.max_memory_allocated(images.device)
        peers.append(Peer(label, run))
    record_timings(rows, peers, repeats, images.device)
    plain = rows["plain"]
    for row in rows.values():
        if row.get("status") == "ok" and plain.get("status") == "ok":
            row["x_plain"] = row["seconds"] / plain["seconds"]
    counted = [
        {"name": "robust_val", "kind": "counted", "status": "ok",
         "note": "+1 evaluation (validation subset, clean + attacks) per scheduled evaluation; "
                 "one weights file per validation-frontier evaluation on disk"},
        {"name": "wise_ft", "kind": "counted", "status": "ok",
         "note": "+1 evaluation per alpha at the end of the run, + the probe head's fit"},
        {"name": "lp_ft", "kind": "counted", "status": "ok",
         "note": "+lp_ft.steps head-only steps before fine-tuning"},
    ]
    return list(rows.values()) + counted


__all__ = ["bench_remedies"]
