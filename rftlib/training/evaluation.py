"""Continuous evaluation: clean accuracy, PGD robust accuracy and OOD accuracy on fixed, seeded subsets.

Evaluation must never change the training trajectory: it restores the model's train/eval mode and
the global RNG stream, and the attack's random start draws from its own generator seeded by
(run seed, step), so the same step is attacked identically in a resumed run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..attacks import PGD
from ..data import eval_subset
from ..devices import autocast_for
from ..seeding import derived_seed, preserved_rng


@dataclass
class EvalResult:
    clean_acc: float
    adv_acc: float
    ood_acc: float | None
    seconds: float


class Evaluator:
    """Evaluates a model at scheduled steps on the same examples every time."""

    def __init__(self, *, test: Dataset, ood: Dataset | None, size, seed: int, batch_size: int,
                 attack: dict, device: torch.device, precision: str, num_workers: int = 0):
        self.test = eval_subset(test, size, seed)
        self.ood = eval_subset(ood, size, seed) if ood is not None else None
        self.seed = seed
        self.batch_size = batch_size
        self.attack_options = attack
        self.device = device
        self.bf16 = precision == "bf16"
        self.num_workers = num_workers

    def _loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)

    def _autocast(self):
        return autocast_for(self.device, "bf16" if self.bf16 else "fp32")

    def __call__(self, model: nn.Module, step: int) -> EvalResult:
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            with preserved_rng():
                clean, adv = self._clean_and_robust(model, step)
                ood = self._clean_only(model, self.ood) if self.ood is not None else None
        finally:
            model.train(was_training)
        return EvalResult(clean, adv, ood, time.perf_counter() - start)

    def _clean_and_robust(self, model: nn.Module, step: int) -> tuple[float, float]:
        attack = PGD(model, **self.attack_options, autocast_dtype=torch.bfloat16 if self.bf16 else None)
        generator = torch.Generator(device=self.device).manual_seed(derived_seed(self.seed, step))
        correct = robust = total = 0
        for images, labels in self._loader(self.test):
            images, labels = images.to(self.device), labels.to(self.device)
            with torch.no_grad(), self._autocast():
                correct += (model(images).argmax(1) == labels).sum().item()
            adversarial = attack(images, labels, generator=generator)
            with torch.no_grad(), self._autocast():
                robust += (model(adversarial).argmax(1) == labels).sum().item()
            total += len(labels)
        return correct / total, robust / total

    @torch.no_grad()
    def _clean_only(self, model: nn.Module, dataset: Dataset) -> float:
        correct = total = 0
        for images, labels in self._loader(dataset):
            images, labels = images.to(self.device), labels.to(self.device)
            with self._autocast():
                correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
        return correct / total
