"""APGD against the authors' APGD, and one whole continuous evaluation against a naive one.

``bench_apgd``: rftlib's APGD-CE and APGD-T against ``pyautoattack``'s (the authors' code) at equal
iterations, targets, eps and seed, on the same model and batch. Both draw the same random starts (a
CPU generator seeded s draws what the reference draws after ``torch.manual_seed(s)``), so their
robust accuracies should agree; they are printed side by side. Labels are the model's own clean
predictions, as in the PGD rows.

``bench_evaluation``: one whole evaluation (clean pass, attack, robust pass) of rftlib's
:class:`~rftlib.training.evaluation.Evaluator`, which attacks only the points classified correctly,
against a naive evaluator that attacks every point with ``torchattacks.PGD`` (what rftlib did
before, and what the paper's code does). The labels are chosen so that a given share of the points
is classified correctly, as early in fine-tuning.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from rftlib.attacks import APGD, APGDT
from rftlib.bench.timing import Peer, compare_to_peer, time_peers

REFERENCE_CE = "pyautoattack APGD-CE"
REFERENCE_T = "pyautoattack APGD-T"
EVAL_REFERENCE = "naive: torchattacks PGD on every point"


def _robust(model: nn.Module, adversarial: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(adversarial).argmax(1) == labels).float().mean().item()


def bench_apgd(model: nn.Module, images: torch.Tensor, *, eps: float, steps: int, targets: int, repeats: int,
               seed: int = 0) -> list[dict]:
    """Rows for APGD-CE and APGD-T, the reference's and ours: images/s, robust accuracy and the ratio."""
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    model.eval()
    with torch.no_grad():
        labels = model(images).argmax(1)
    variants = {
        REFERENCE_CE: lambda: APGDAttack(model, n_iter=steps, eps=eps, seed=seed, loss="ce",
                                         device=images.device).perturb(images, labels),
        "rftlib APGD-CE": lambda: APGD(model, eps=eps, steps=steps).attack(
            images, labels, generator=torch.Generator().manual_seed(seed)),
        REFERENCE_T: lambda: APGDAttack_targeted(model, n_iter=steps, eps=eps, seed=seed, n_target_classes=targets,
                                                 device=images.device).perturb(images, labels),
        "rftlib APGD-T": lambda: APGDT(model, eps=eps, steps=steps, targets=targets).attack(
            images, labels, generator=torch.Generator().manual_seed(seed)),
    }
    outputs: dict[str, torch.Tensor] = {}
    peers = [Peer(name, lambda name=name, fn=fn: outputs.__setitem__(name, fn())) for name, fn in variants.items()]
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        time_peers(peers, repeats, images.device)  # the reference reseeds the global RNG: restored after
    rows = {}
    for peer in peers:
        targeted = peer.name.endswith("APGD-T")
        row = rows[peer.name] = {"name": peer.name, "steps": steps, "targets": targets if targeted else None}
        if peer.error is not None:
            row.update(status="failed", note=peer.error)
            continue
        row.update(status="ok", seconds=peer.median, times=peer.times, images_per_s=len(images) / peer.median,
                   robust_acc=_robust(model, outputs[peer.name], labels))
    for ours, reference in (("rftlib APGD-CE", REFERENCE_CE), ("rftlib APGD-T", REFERENCE_T)):
        compare_to_peer(rows[ours], rows[reference])
    return list(rows.values())


def _labels_with_accuracy(model: nn.Module, images: torch.Tensor, clean_acc: float, seed: int) -> torch.Tensor:
    """Labels that the model gets right on a ``clean_acc`` share of the points (a seeded choice), wrong elsewhere."""
    with torch.no_grad():
        logits = model(images)
    predicted = logits.argmax(1)
    generator = torch.Generator().manual_seed(seed)
    wrong = torch.randperm(len(images), generator=generator)[: round((1 - clean_acc) * len(images))].to(images.device)
    labels = predicted.clone()
    shift = torch.randint(1, logits.shape[1], (len(wrong),), generator=generator).to(images.device)
    labels[wrong] = (predicted[wrong] + shift) % logits.shape[1]
    return labels


def bench_evaluation(model: nn.Module, images: torch.Tensor, *, eps: float, alpha: float, steps: int,
                     clean_acc: float, batch: int, repeats: int, seed: int = 0) -> list[dict]:
    """Rows for one whole evaluation by rftlib's Evaluator and by the naive evaluator, with the ratio."""
    import torchattacks

    from rftlib.training.evaluation import Evaluator

    model.eval()
    labels = _labels_with_accuracy(model, images, clean_acc, seed)
    dataset = TensorDataset(images.cpu(), labels.cpu())
    spec = {"name": "pgd", "label": "pgd", "eps": eps, "alpha": alpha, "steps": steps, "random_start": True}
    evaluator = Evaluator(test=dataset, ood=None, size="all", seed=seed, batch_size=batch, attacks=[spec],
                          device=images.device, precision="fp32")
    naive_attack = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    results: dict[str, tuple[float, float]] = {}

    def ours():
        result = evaluator(model, step=0)
        results["rftlib Evaluator (clean-correct points only)"] = (result.clean_acc, result.adv_acc)

    def naive():
        correct = robust = 0
        for start in range(0, len(images), batch):
            x, y = images[start:start + batch], labels[start:start + batch]
            with torch.no_grad():
                correct += (model(x).argmax(1) == y).sum().item()
            adversarial = naive_attack(x, y)
            with torch.no_grad():
                robust += (model(adversarial).argmax(1) == y).sum().item()
        results[EVAL_REFERENCE] = (correct / len(images), robust / len(images))

    peers = [Peer(EVAL_REFERENCE, naive, setup=lambda: torch.manual_seed(seed)),
             Peer("rftlib Evaluator (clean-correct points only)", ours)]
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        time_peers(peers, repeats, images.device)
    rows = {}
    for peer in peers:
        row = rows[peer.name] = {"name": peer.name, "points": len(images), "steps": steps}
        if peer.error is not None:
            row.update(status="failed", note=peer.error)
            continue
        clean, robust = results[peer.name]
        row.update(status="ok", seconds=peer.median, times=peer.times, images_per_s=len(images) / peer.median,
                   clean_acc=clean, robust_acc=robust)
    compare_to_peer(rows["rftlib Evaluator (clean-correct points only)"], rows[EVAL_REFERENCE])
    return list(rows.values())


__all__ = ["EVAL_REFERENCE", "REFERENCE_CE", "REFERENCE_T", "bench_apgd", "bench_evaluation"]
