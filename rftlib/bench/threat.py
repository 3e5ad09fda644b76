"""L2 PGD against torchattacks' PGDL2, and one robustness curve against the naive per-radius loop.

``bench_threat``: on the same model and batch (labels: the model's clean predictions),

- rftlib's PGD with ``norm="L2"`` against ``torchattacks.PGDL2`` at equal eps, step and steps, with the
  same random start (both draw it from a generator seeded alike), so their robust accuracies agree;
- one robustness curve of PGD-L2 over four radii (eps/8, eps/4, eps/2, eps) computed as runs do,
  each radius attacking only the points the smaller ones left robust
  (:func:`rftlib.attacks.robustness_curve.survivor_flags`), against the naive loop that attacks every point
  at every radius (:func:`~rftlib.attacks.robustness_curve.per_radius_flags`). Both give the curve's area.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rftlib.attacks import PGD
from rftlib.attacks.robustness_curve import per_radius_flags, point_areas, survivor_flags
from rftlib.bench.timing import Peer, compare_to_peer, time_peers

REFERENCE_L2 = "torchattacks PGDL2"
OURS_L2 = "rftlib PGD L2"
NAIVE_CURVE = "naive: every point at every radius"
OURS_CURVE = "rftlib curve (survivors only)"
CURVE_SHARES = (1 / 8, 1 / 4, 1 / 2, 1.0)


def bench_threat(model: nn.Module, images: torch.Tensor, *, eps: float, steps: int, repeats: int,
                 seed: int = 0) -> list[dict]:
    """Rows for PGD-L2 (ours, torchattacks') and the curve (survivors, naive): images/s, robust accuracy
    (the curve's: at its largest radius, and its area) and each one's speed-up over its peer."""
    import torchattacks

    model.eval()
    with torch.no_grad():
        labels = model(images).argmax(1)
    alpha = eps / 4
    radii = [share * eps for share in CURVE_SHARES]
    curve_attacks = [PGD(model, eps=r, alpha=r / 4, steps=steps, norm="L2") for r in radii]

    def generators():
        return [torch.Generator(device=images.device).manual_seed(seed + k) for k in range(len(radii))]

    outputs: dict[str, object] = {}
    reference = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    ours = PGD(model, eps=eps, alpha=alpha, steps=steps, norm="L2")
    peers = [
        Peer(REFERENCE_L2, lambda: outputs.__setitem__(REFERENCE_L2, reference(images, labels)),
             setup=lambda: torch.manual_seed(seed)),
        Peer(OURS_L2, lambda: outputs.__setitem__(OURS_L2, ours(
            images, labels, generator=torch.Generator(device=images.device).manual_seed(seed)))),
        Peer(NAIVE_CURVE, lambda: outputs.__setitem__(NAIVE_CURVE, per_radius_flags(
            model, images, labels, curve_attacks, generators()))),
        Peer(OURS_CURVE, lambda: outputs.__setitem__(OURS_CURVE, survivor_flags(
            model, images, labels, curve_attacks, generators()))),
    ]
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        time_peers(peers, repeats, images.device)
    clean = np.ones(len(labels), dtype=bool)  # labels are the clean predictions
    rows = {}
    for peer in peers:
        row = rows[peer.name] = {"name": peer.name, "steps": steps, "eps": eps}
        if peer.error is not None:
            row.update(status="failed", note=peer.error)
            continue
        row.update(status="ok", seconds=peer.median, times=peer.times, images_per_s=len(images) / peer.median)
        if peer.name in (NAIVE_CURVE, OURS_CURVE):
            flags = outputs[peer.name].cpu().numpy()
            row.update(radii=radii, robust_acc=float(flags[-1].mean()), curve=[float(v) for v in flags.mean(1)],
                       curve_auc=float(point_areas(clean, flags, radii).mean()))
        else:
            with torch.no_grad():
                row["robust_acc"] = (model(outputs[peer.name]).argmax(1) == labels).float().mean().item()
    for mine, peer in ((OURS_L2, REFERENCE_L2), (OURS_CURVE, NAIVE_CURVE)):
        compare_to_peer(rows[mine], rows[peer])
    return list(rows.values())


__all__ = ["NAIVE_CURVE", "OURS_CURVE", "OURS_L2", "REFERENCE_L2", "bench_threat"]
