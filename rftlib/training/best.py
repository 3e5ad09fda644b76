"""``final_model: best_val``: the run's result is the evaluated model of highest validation accuracy,
as in the released code, which reloads its best-validation checkpoint before the final evaluation.

Validation accuracy (``val_acc``) is measured at every scheduled evaluation, on a fixed, seeded
subset of the validation hold-out. The trainable weights of the best evaluation so far (the earliest
of equal ones) are kept in ``best_val.safetensors``. That evaluation's record is the final
evaluation: its clean, robust and OOD accuracies were measured on exactly those weights, with the
attack seeded by (seed, step), so evaluating them again would give the same numbers.
"""
from __future__ import annotations

from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from .checkpoint import load_trainable_state, save_final_weights

BEST_WEIGHTS = "best_val.safetensors"
VAL_SET = "val"  # the Evaluator's extra set: records get "val_acc"
VAL_KEY = f"{VAL_SET}_acc"


def best_record(records: list[dict], key: str = VAL_KEY) -> dict | None:
    """The record of highest ``key``, the earliest of equal ones; None without a record that has it."""
    scored = [r for r in records if r.get(key) is not None]
    return max(scored, key=lambda r: (r[key], -r["step"])) if scored else None


class BestWeights:
    """Keeps the trainable weights of the evaluation with the highest ``key`` so far (the earliest of equal
    ones) in ``<run_dir>/<name>``, its step in the metadata: the best-validation model of
    ``final_model: best_val``, and the peak-PGD model that the end-of-run AutoAttack attacks.

    ``update`` runs after the evaluation's checkpoint, so on resume (``records`` are those kept, up to
    ``resumed_step``) the kept file is that of the best kept record, with two exceptions it repairs:
    killed after the checkpoint of a new best but before its weights were kept, the model just restored
    from that checkpoint holds them; a file from past the checkpoint is dropped, as the replay keeps it again.
    """

    def __init__(self, run_dir: Path, name: str, key: str, records: list[dict], model: nn.Module,
                 resumed_step: int | None):
        self.path = Path(run_dir) / name
        self.key = key
        self.best = best_record(records, key)
        stored = self.stored_step()
        if stored is not None and (self.best is None or stored != self.best["step"]):
            self.path.unlink()
        if self.best is not None and self.best["step"] == resumed_step and not self.path.exists():
            self._keep(model, resumed_step)

    @property
    def step(self) -> int | None:
        """The step of the best evaluation so far; None before any."""
        return None if self.best is None else self.best["step"]

    def stored_step(self) -> int | None:
        if not self.path.exists():
            return None
        with safe_open(str(self.path), framework="pt") as handle:
            return int((handle.metadata() or {}).get("step", -1))

    def _keep(self, model: nn.Module, step: int) -> None:
        save_final_weights(self.path.parent, model, {"step": str(step)}, name=self.path.name)

    def update(self, model: nn.Module, record: dict) -> None:
        """Keep ``model``'s weights when ``record`` (its evaluation) is the best so far."""
        value = record.get(self.key)
        if value is not None and (self.best is None or value > self.best[self.key]):
            self._keep(model, record["step"])
            self.best = record

    def restore(self, model: nn.Module) -> dict | None:
        """Load the best weights into ``model``; the best evaluation's record (None, and ``model``
        left as it is, when nothing was evaluated)."""
        if self.best is not None:
            load_trainable_state(model, load_file(self.path))
        return self.best
