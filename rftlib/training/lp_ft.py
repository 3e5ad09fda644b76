"""LP-FT: linear probing, then fine-tuning from the probed head (Kumar et al., "Fine-Tuning can Distort
Pretrained Features and Underperform Out-of-Distribution", ICLR 2022), for every strategy (LP then LoRA,
LP then full, ...). With a robust probe objective (``lp_ft.objective: pgd_at`` or ``trades``) the first
stage is RoLI's robust linear initialisation (Hua et al., "Initialization Matters for Adversarial
Transfer Learning", CVPR 2024).

Run option ``lp_ft: {steps, lr, objective, objective_options}`` (``rftlib.remedies.wise_lp_options``).
Stage one fits the head on the frozen pretrained backbone (``rftlib.training.probe_head``) before the
strategy is applied, so the strategy's own modules are initialised exactly as in the plain run (the
probe runs outside the global random stream). Stage two is the configured run, from that head: its
records start at step 0 with the probed model, and its steps, schedule and checkpoints are the plain
run's. The head is written to ``<run_dir>/probe_head.safetensors`` before stage two starts and read
back on resume, so a killed LP-FT run resumes with identical records (a kill during stage one refits:
the fit is deterministic).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rftlib.training.probe_head import PROBE_HEAD, fit_probe_head, load_head, save_head, set_head


def probe_stage(model: nn.Module, train, *, config, run_dir: str | Path, device: torch.device,
                progress: bool = False) -> dict[str, torch.Tensor]:
    """LP-FT's first stage for the run ``config`` (resolved, with ``lp_ft`` set): the head fitted on
    the frozen pretrained ``model`` (no strategy yet), or the one a previous attempt of this run wrote;
    copied into ``model`` and returned."""
    path = Path(run_dir) / PROBE_HEAD
    if path.exists():
        head = load_head(path)
    else:
        options = config.lp_ft
        head = fit_probe_head(model, train, steps=options["steps"], lr=options["lr"], batch_size=config.batch_size,
                              seed=config.seed, objective=options["objective"],
                              objective_options=options["objective_options"], precision=config.precision,
                              grad_clip=config.grad_clip, betas=config.betas, adam_eps=config.adam_eps,
                              device=device, num_workers=config.num_workers, progress=progress)
        save_head(path, head)
    set_head(model, head)
    return head


__all__ = ["probe_stage"]
