"""End-of-run AutoAttack: how much did PGD overstate robustness, at the run's peak and at its end?

With ``RunConfig.final_autoattack`` set (``{size: N, **AutoAttack options}``), a run

1. keeps, while it trains, the trainable weights of the step where PGD robust accuracy peaked
   (``peak_trainable.safetensors``, by :class:`rftlib.training.best.BestWeights`), and
2. at the end, before the summary and the ``done`` marker, runs standard AutoAttack (the authors' code,
   :class:`rftlib.attacks.AutoAttack`) on a fixed, seeded subset of N evaluation points, on the final
   model and on the peak model. PGD's flags on the same points come from that step's per-sample
   outcomes, so the gap is paired: ``pgd_overstatement`` = PGD robust accuracy − AutoAttack robust
   accuracy on the same points, with its standard error over the points.

The per-sample flags go to ``autoattack.npz`` (atomically) and the figures to the summary's
``autoattack`` entry. A killed run redoes the whole end-of-run attack when it resumes.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from rftlib.core.atomic import atomic_write
from rftlib.attacks import AutoAttack
from rftlib.attacks.end_of_run import DEFAULT_SIZE, check_final_autoattack  # noqa: F401  (re-exported)
from rftlib.core.errors import RftError
from rftlib.runs.outcomes import save_npz, read_step_outcomes
from rftlib.core.seeding import derived_seed
from rftlib.training.best import BestWeights
from rftlib.training.checkpoint import load_trainable_state

PEAK_WEIGHTS = "peak_trainable.safetensors"
FLAGS = "autoattack.npz"
_SUBSET_TAG = 0xA7  # keeps the subset's seed apart from every other stream derived from the run seed


def peak_key(attack_specs: list[dict]) -> tuple[str, str, float | None]:
    """(record key, outcomes key, eps) of the PGD robustness whose peak is attacked: the first ``pgd``
    attack's (the worst case over the attacks, and no eps, when none is PGD)."""
    for spec in attack_specs:
        if spec["name"] == "pgd":
            return f"adv_acc_{spec['label']}", f"robust_{spec['label']}", spec.get("eps")
    return "adv_acc", "robust", None


def subset_positions(n_points: int, size: int, seed: int) -> np.ndarray:
    """The fixed, seeded positions (in evaluation-subset order) that AutoAttack attacks."""
    if size >= n_points:
        return np.arange(n_points)
    return np.sort(np.random.default_rng(derived_seed(seed, _SUBSET_TAG)).choice(n_points, size, replace=False))


def run_final_autoattack(*, spec: dict, run_dir: Path, model: nn.Module, test_points, pgd_eps: float,
                         outcome_key: str, final_step: int, peak: BestWeights | None, seed: int,
                         device: torch.device) -> dict:
    """AutoAttack on the final model and the peak model; returns the summary's ``autoattack`` entry.

    ``test_points``: the evaluation subset (the Evaluator's ``test``), in the order of the outcomes.
    The model ends with the peak weights loaded when the peak differs from the final step.
    """
    start = time.perf_counter()
    options = {k: v for k, v in spec.items() if k != "size"}
    options.setdefault("eps", pgd_eps)
    attack = AutoAttack(model, **options)
    positions = subset_positions(len(test_points), spec.get("size", DEFAULT_SIZE), seed)
    images = torch.stack([test_points[int(i)][0] for i in positions]).to(device)
    labels = torch.tensor([int(test_points[int(i)][1]) for i in positions], device=device)

    models = [("final", final_step, None)]
    if peak is not None and peak.step is not None:
        if peak.stored_step() == peak.step:
            models.append(("peak", peak.step, peak.path))
    entry: dict[str, Any] = {"eps": attack.eps, "standard": attack.is_standard, "points": len(positions),
                             "options": options}
    flags: dict[str, np.ndarray] = {"positions": positions}
    for which, step, weights in models:
        if which == "peak" and step == final_step:  # the peak is the end: same model, same attack
            flags["peak_robust"], entry["peak"] = flags["final_robust"], dict(entry["final"])
            continue
        if weights is not None:
            load_trainable_state(model, load_file(str(weights)))
        generator = torch.Generator(device=device).manual_seed(derived_seed(seed, step, _SUBSET_TAG))
        robust = attack.run(images, labels, generator=generator).robust.cpu().numpy()
        flags[f"{which}_robust"] = robust
        entry[which] = _gap(run_dir, step, outcome_key, positions, robust)
    # No peak entry: its weights were lost (a resume whose replay did not reach the stored peak again).
    entry.setdefault("peak", None)
    atomic_write(Path(run_dir) / FLAGS, lambda tmp: save_npz(tmp, flags))
    entry["seconds"] = time.perf_counter() - start
    return entry


def _gap(run_dir: Path, step: int, outcome_key: str, positions: np.ndarray, autoattack: np.ndarray) -> dict:
    """PGD (from the step's outcomes) against AutoAttack on the same points, paired."""
    try:
        outcomes = read_step_outcomes(run_dir, step)
    except RftError:  # the step was not evaluated (a schedule without its end point)
        return {"step": int(step), "autoattack_acc": float(autoattack.mean()), "pgd_acc": None,
                "pgd_overstatement": None}
    pgd = outcomes[outcome_key][positions]
    difference = pgd.astype(float) - autoattack.astype(float)
    n = len(positions)
    se = float(difference.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"step": int(step), "clean_acc": float(outcomes["clean"][positions].mean()),
            "pgd_acc": float(pgd.mean()), "autoattack_acc": float(autoattack.mean()),
            "pgd_overstatement": float(difference.mean()), "pgd_overstatement_se": se,
            "pgd_only_robust": int((pgd & ~autoattack).sum())}


__all__ = ["DEFAULT_SIZE", "FLAGS", "PEAK_WEIGHTS", "check_final_autoattack", "peak_key",
           "run_final_autoattack", "subset_positions"]
