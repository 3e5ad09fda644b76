"""``final_model: best_val`` and ``robust_val``: the run's result is the evaluated model of highest validation accuracy,
as in the released code, which reloads its best-validation checkpoint before the final evaluation.

Validation accuracy (``val_acc``) is measured at every scheduled evaluation, on a fixed, seeded
subset of the validation hold-out. The trainable weights of the best evaluation so far (the earliest
of equal ones) are kept in ``best_val.safetensors``. That evaluation's record is the final
evaluation: its clean, robust and OOD accuracies were measured on exactly those weights, with the
attack seeded by (seed, step), so evaluating them again would give the same numbers.

``final_model: robust_val`` (robust checkpoint selection, RQ4) measures robust accuracy on the same
validation subset too (``val_adv_acc``, every configured attack, worst case) and keeps the evaluation
of highest ``val_adv_acc`` — with ``selection_tolerance`` t, the highest among those whose ``val_acc`` is
within t of the best ``val_acc`` of the run. Li et al. (ICCV 2025) find robustness peaks early; this
picks that peak without reading the test split. Since the best ``val_acc`` is known only at the end,
the weights of every evaluation that could still be chosen are kept (:class:`FrontierWeights`).
"""
from __future__ import annotations

from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from rftlib.training.checkpoint import load_trainable_state, save_final_weights

BEST_WEIGHTS = "best_val.safetensors"
VAL_SET = "val"  # the Evaluator's extra set: records get "val_acc"
VAL_KEY = f"{VAL_SET}_acc"
VAL_ADV_KEY = "val_adv_acc"  # robust accuracy on the validation subset (final_model: robust_val)
FRONTIER_DIR = "robust_val"  # the kept weights of final_model: robust_val, one file per candidate step


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


def robust_record(records: list[dict], tolerance: float | None = None) -> dict | None:
    """The record ``final_model: robust_val`` chooses: highest ``val_adv_acc`` (the earliest of equal
    ones) among the records whose ``val_acc`` is within ``tolerance`` of the highest (all when None).
    Reads validation fields only."""
    scored = [r for r in records if r.get(VAL_ADV_KEY) is not None and r.get(VAL_KEY) is not None]
    if tolerance is not None and scored:
        floor = max(r[VAL_KEY] for r in scored) - tolerance
        scored = [r for r in scored if r[VAL_KEY] >= floor - 1e-12]
    return max(scored, key=lambda r: (r[VAL_ADV_KEY], -r["step"])) if scored else None


def dominated(record: dict, others: list[dict]) -> bool:
    """True when another record has at least the same ``val_acc`` and wins :func:`robust_record`'s
    ordering (higher ``val_adv_acc``, or equal and earlier): eligible whenever ``record`` is, it always
    beats it, so ``record`` can never be chosen, whatever the tolerance."""
    return any(other["step"] != record["step"] and other[VAL_KEY] >= record[VAL_KEY]
               and (other[VAL_ADV_KEY], -other["step"]) > (record[VAL_ADV_KEY], -record["step"])
               for other in others)


class FrontierWeights:
    """The trainable weights of every evaluation not dominated on (``val_acc``, ``val_adv_acc``), in
    ``<run_dir>/robust_val/step_NNNNNNN.safetensors``: whatever the run's best ``val_acc`` turns out to be,
    the record :func:`robust_record` chooses is among them. Usually a handful (the validation Pareto
    frontier); a dominated evaluation's file is deleted as soon as it is dominated.

    Resume, as :class:`BestWeights`: ``update`` runs after the checkpoint; files of steps past the
    checkpoint are dropped (the replay keeps them again), and the resumed step's weights, if it is on the
    frontier and its file was not yet written, are those of the model just restored."""

    def __init__(self, run_dir: Path, records: list[dict], model: nn.Module, resumed_step: int | None,
                 tolerance: float | None):
        self.folder = Path(run_dir) / FRONTIER_DIR
        self.tolerance = tolerance
        self.frontier = [r for r in records if r.get(VAL_ADV_KEY) is not None]
        self.frontier = [r for r in self.frontier if not dominated(r, self.frontier)]
        keep = {r["step"] for r in self.frontier}
        for path in sorted(self.folder.glob("step_*.safetensors")) if self.folder.is_dir() else []:
            if int(path.stem.split("_")[1]) not in keep:
                path.unlink()
        if resumed_step in keep and not self.path(resumed_step).exists():
            self._keep(model, resumed_step)

    def path(self, step: int) -> Path:
        return self.folder / f"step_{int(step):07d}.safetensors"

    def _keep(self, model: nn.Module, step: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        save_final_weights(self.folder, model, {"step": str(step)}, name=self.path(step).name)

    def update(self, model: nn.Module, record: dict) -> None:
        """Keep ``model``'s weights when ``record`` is on the frontier; drop those it dominates."""
        if record.get(VAL_ADV_KEY) is None or dominated(record, self.frontier):
            return
        self._keep(model, record["step"])
        self.frontier.append(record)
        for old in [r for r in self.frontier if dominated(r, self.frontier)]:
            self.frontier.remove(old)
            self.path(old["step"]).unlink(missing_ok=True)

    @property
    def chosen(self) -> dict | None:
        return robust_record(self.frontier, self.tolerance)

    def restore(self, model: nn.Module) -> dict | None:
        """Load the chosen evaluation's weights into ``model``; its record (None, ``model`` unchanged,
        when nothing was evaluated)."""
        chosen = self.chosen
        if chosen is not None:
            load_trainable_state(model, load_file(self.path(chosen["step"])))
        return chosen
