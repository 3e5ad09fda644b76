"""Continuous evaluation: clean accuracy, robust accuracy under each configured attack, OOD accuracy and
any extra clean-only sets (e.g. corruptions), on fixed, seeded subsets, with per-sample outcomes.

Only the points classified correctly on clean inputs are attacked (AutoAttack's convention): a point
the model already gets wrong counts as not robust, so early in fine-tuning, when most points are
misclassified, most of the attack's work is saved. The points to attack are packed into full batches.

Evaluation must never change the training trajectory: it restores the model's train/eval mode and
the global RNG stream, and each attack's random start draws from its own generator seeded by
(run seed, step, attack index), so the same step is attacked identically in a resumed run.

A robustness curve (``RunConfig.robustness_curve``), at the steps it is due, attacks the same packed
batches at increasing radii, each radius only the points the smaller ones left robust
(``rftlib.attacks.robustness_curve``), with generators seeded by (run seed, step, curve tag, radius index).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rftlib.attacks import accepts_option, make_attack
from rftlib.data import eval_subset
from rftlib.core.devices import autocast_for
from rftlib.attacks.robustness_curve import SEED_TAG, curve_record, outcome_key, survivor_flags
from rftlib.core.seeding import derived_seed, preserved_rng


@dataclass
class EvalResult:
    clean_acc: float
    adv_acc: float
    """Worst case over the attacks: the share of points correct under every attack."""
    ood_acc: float | None
    seconds: float
    attack_acc: dict[str, float] = field(default_factory=dict)
    """Robust accuracy under each attack, by label."""
    extra_acc: dict[str, float] = field(default_factory=dict)
    """Accuracy on each extra clean-only set, by name."""
    outcomes: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-sample boolean outcomes (see ``rftlib.runs.outcomes``)."""
    curve: dict[str, float] = field(default_factory=dict)
    """The robustness curve's record columns (``curve_<k>_acc``, ``curve_auc``) where one was measured."""


class Evaluator:
    """Evaluates a model at scheduled steps on the same examples every time.

    ``attacks``: resolved attack specs ``{name, label, **options}`` (``RunConfig.attack_specs()``).
    ``extra_sets``: further clean-only datasets by name, already fixed (not subsampled here).
    ``curve``: ``(radii, options_at(radius) -> attack options, name)`` of a robustness curve, measured at
    ``curve_steps`` (None: every evaluation).
    """

    def __init__(self, *, test: Dataset, ood: Dataset | None, size, seed: int, batch_size: int,
                 attacks: list[dict], device: torch.device, precision: str, num_workers: int = 0,
                 extra_sets: dict[str, Dataset] | None = None, curve: tuple | None = None,
                 curve_steps: set[int] | None = None):
        self.test = eval_subset(test, size, seed)
        self.ood = eval_subset(ood, size, seed) if ood is not None else None
        self.extra_sets = dict(extra_sets or {})
        self.seed = seed
        self.batch_size = batch_size
        self.attack_specs = [dict(spec) for spec in attacks]
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.curve = curve
        self.curve_steps = curve_steps

    def _loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)

    def _autocast(self):
        return autocast_for(self.device, self.precision)

    def __call__(self, model: nn.Module, step: int) -> EvalResult:
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            with preserved_rng():
                outcomes = self._clean_and_robust(model, step)
                if self.ood is not None:
                    outcomes["ood"] = self._correct(model, self.ood)
                for name, dataset in self.extra_sets.items():
                    outcomes[name] = self._correct(model, dataset)
        finally:
            model.train(was_training)
        labels = [spec["label"] for spec in self.attack_specs]
        curve = curve_record(outcomes, self.curve[0]) if outcome_key(0) in outcomes else {}
        return EvalResult(
            clean_acc=_mean(outcomes["clean"]),
            adv_acc=_mean(outcomes["robust"]),
            ood_acc=_mean(outcomes["ood"]) if "ood" in outcomes else None,
            seconds=time.perf_counter() - start,
            attack_acc={label: _mean(outcomes[f"robust_{label}"]) for label in labels},
            extra_acc={name: _mean(outcomes[name]) for name in self.extra_sets},
            outcomes=outcomes,
            curve=curve,
        )

    def _attacks(self, model: nn.Module, step: int) -> list[tuple[str, object, torch.Generator]]:
        autocast_dtype = torch.bfloat16 if self.precision == "bf16" else None
        built = []
        for index, spec in enumerate(self.attack_specs):
            options = {k: v for k, v in spec.items() if k not in ("name", "label")}
            if accepts_option(spec["name"], "autocast_dtype"):  # fp32-only attacks take no such option
                options["autocast_dtype"] = autocast_dtype
            attack = make_attack(spec["name"], model, **options)
            # The first attack keeps the (seed, step) stream PGD always used.
            parts = (self.seed, step) if index == 0 else (self.seed, step, index)
            generator = torch.Generator(device=self.device).manual_seed(derived_seed(*parts))
            built.append((spec["label"], attack, generator))
        return built

    def _curve_attacks(self, model: nn.Module, step: int) -> tuple[list, list] | None:
        """The curve's attack at each radius and its generator, when a curve is due at ``step``."""
        if self.curve is None or (self.curve_steps is not None and step not in self.curve_steps):
            return None
        radii, options_at, name = self.curve
        autocast = {"autocast_dtype": torch.bfloat16 if self.precision == "bf16" else None} \
            if accepts_option(name, "autocast_dtype") else {}
        attacks = [make_attack(name, model, **options_at(radius), **autocast) for radius in radii]
        generators = [torch.Generator(device=self.device).manual_seed(derived_seed(self.seed, step, SEED_TAG, k))
                      for k in range(len(radii))]
        return attacks, generators

    def _clean_and_robust(self, model: nn.Module, step: int) -> dict[str, np.ndarray]:
        attacks = self._attacks(model, step)
        curve = self._curve_attacks(model, step)
        curve_flags: list[torch.Tensor] = []
        clean_flags: list[torch.Tensor] = []
        robust_flags = {label: [] for label, _, _ in attacks}
        # Clean-correct points wait here until a full batch of them can be attacked.
        pending_images: list[torch.Tensor] = []
        pending_labels: list[torch.Tensor] = []

        def attack_pending(limit: int) -> None:
            images, labels = torch.cat(pending_images), torch.cat(pending_labels)
            now_images, now_labels = images[:limit], labels[:limit]
            pending_images[:] = [images[limit:]]
            pending_labels[:] = [labels[limit:]]
            for label, attack, generator in attacks:
                adversarial = attack(now_images, now_labels, generator=generator)
                with torch.no_grad(), self._autocast():
                    robust_flags[label].append((model(adversarial).argmax(1) == now_labels).cpu())
            if curve is not None:  # predictions under the run's autocast, as for the attacks above
                curve_flags.append(survivor_flags(model, now_images, now_labels, *curve,
                                                  predict_context=self._autocast).cpu())

        waiting = 0
        for images, labels in self._loader(self.test):
            images, labels = images.to(self.device), labels.to(self.device)
            with torch.no_grad(), self._autocast():
                correct = model(images).argmax(1) == labels
            clean_flags.append(correct.cpu())
            pending_images.append(images[correct])
            pending_labels.append(labels[correct])
            waiting += int(correct.sum())
            while waiting >= self.batch_size:
                attack_pending(self.batch_size)
                waiting -= self.batch_size
        if waiting:
            attack_pending(waiting)

        clean = torch.cat(clean_flags).numpy()
        outcomes = {"clean": clean}
        robust = clean.copy()
        for label in robust_flags:
            attacked = torch.cat(robust_flags[label]).numpy() if robust_flags[label] else np.zeros(0, bool)
            per_point = np.zeros_like(clean)
            per_point[clean] = attacked  # clean-correct points in their original order
            outcomes[f"robust_{label}"] = per_point
            robust &= per_point
        outcomes["robust"] = robust
        if curve is not None:
            attacked = torch.cat(curve_flags, 1).numpy() if curve_flags else np.zeros((len(curve[0]), 0), bool)
            for k, row in enumerate(attacked):
                per_point = np.zeros_like(clean)
                per_point[clean] = row
                outcomes[outcome_key(k)] = per_point
        return outcomes

    @torch.no_grad()
    def _correct(self, model: nn.Module, dataset: Dataset) -> np.ndarray:
        flags = []
        for images, labels in self._loader(dataset):
            images, labels = images.to(self.device), labels.to(self.device)
            with self._autocast():
                flags.append((model(images).argmax(1) == labels).cpu())
        return torch.cat(flags).numpy()


def _mean(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else float("nan")
