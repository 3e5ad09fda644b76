"""PGD throughput: rftlib's attack in every precision and compile mode against torchattacks.PGD.

Every row attacks the same model, batch, labels, eps, step size and number of steps, from the same
random start (the global RNG is re-seeded before every call, and both attacks draw their start with
``uniform_`` on the images' device), so robust accuracies are comparable row by row. The labels are
the model's own clean fp32 predictions: clean accuracy is 1 in fp32 by construction and robust
accuracy is the share of predictions the attack fails to flip. Each row is scored as the study's
evaluator would score a run in its precision: an eager forward pass under the row's settings (bf16
autocast for bf16 rows), so a bf16 row's clean accuracy may fall a little short of 1.

The model's parameters are left trainable, as they are when the study evaluates during fine-tuning:
torchattacks attacks it as it is, rftlib freezes the parameters for the attack itself.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from rftlib.attacks.pgd import PGD
from rftlib.bench.flops import attack_step_flops
from rftlib.bench.timing import Peer, time_peers

REFERENCE = "torchattacks fp32"


@dataclass(frozen=True)
class Variant:
    """One row of the PGD table. ``lever`` names the single lever a row isolates, if any."""

    name: str
    library: str = "rftlib"
    precision: str = "fp32"  # fp32, tf32 (CUDA matmuls in TF32) or bf16 (autocast)
    compile: str | None = None  # None, or a torch.compile mode ("default", "reduce-overhead")
    early_stop: bool = False
    fused_attention: bool = True
    frozen: bool = False  # torchattacks only: parameters frozen before the attack
    lever: str = ""
    peer: str | None = None  # the row a lever row is compared with
    cuda_only: bool = False


VARIANTS = (
    Variant(REFERENCE, library="torchattacks"),
    Variant("rftlib fp32"),
    Variant("rftlib tf32", precision="tf32", cuda_only=True),
    Variant("rftlib bf16", precision="bf16"),
    Variant("rftlib fp32 +compile", compile="default"),
    Variant("rftlib tf32 +compile", precision="tf32", compile="default", cuda_only=True),
    Variant("rftlib bf16 +compile", precision="bf16", compile="default"),
    Variant("rftlib bf16 +compile +CUDA graphs", precision="bf16", compile="reduce-overhead", cuda_only=True),
    # Levers measured one at a time against their own peer.
    Variant("torchattacks fp32, frozen params", library="torchattacks", frozen=True,
            lever="input-only gradients", peer=REFERENCE),
    Variant("rftlib fp32, unfused attention", fused_attention=False,
            lever="fused attention (off here)", peer="rftlib fp32"),
    Variant("rftlib bf16, early stop", precision="bf16", early_stop=True,
            lever="early stop (union over iterates: stronger, off by default)", peer="rftlib bf16"),
)


@contextlib.contextmanager
def _matmul_precision(precision: str):
    """TF32 for fp32 CUDA matmuls while the tf32 rows run; the setting is restored afterwards."""
    if precision != "tf32":
        yield
        return
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


@contextlib.contextmanager
def _attention(model: nn.Module, fused: bool):
    """timm's attention blocks switched to the unfused (matmul + softmax) path, then back."""
    blocks = [m for m in model.modules() if hasattr(m, "fused_attn")]
    saved = [m.fused_attn for m in blocks]
    for module in blocks:
        module.fused_attn = fused and module.fused_attn
    try:
        yield
    finally:
        for module, flag in zip(blocks, saved):
            module.fused_attn = flag


@contextlib.contextmanager
def _frozen(model: nn.Module, frozen: bool):
    flags = [(p, p.requires_grad) for p in model.parameters()] if frozen else []
    for param, _ in flags:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)


def _settings(model: nn.Module, variant: Variant) -> contextlib.ExitStack:
    """The row's matmul precision, attention path and parameter flags, entered together."""
    stack = contextlib.ExitStack()
    stack.enter_context(_matmul_precision(variant.precision))
    stack.enter_context(_attention(model, variant.fused_attention))
    stack.enter_context(_frozen(model, variant.frozen))
    return stack


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, variant: Variant) -> float:
    autocast = (torch.autocast(images.device.type, dtype=torch.bfloat16) if variant.precision == "bf16"
                else contextlib.nullcontext())
    with _settings(model, variant), torch.no_grad(), autocast:
        return (model(images).argmax(1) == labels).float().mean().item()


def _attack(variant: Variant, model: nn.Module, compiled: dict, eps: float, alpha: float, steps: int):
    """The attack callable ``(images, labels) -> adversarial images`` of one row."""
    if variant.library == "torchattacks":
        import torchattacks

        return torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    target = model
    if variant.compile is not None:
        if variant.compile not in compiled:  # one compiled wrapper per mode, shared by precisions
            compiled[variant.compile] = torch.compile(model, mode=variant.compile)
        target = compiled[variant.compile]
    dtype = torch.bfloat16 if variant.precision == "bf16" else None
    return PGD(target, eps=eps, alpha=alpha, steps=steps, early_stop=variant.early_stop, autocast_dtype=dtype)


def bench_pgd(model: nn.Module, images: torch.Tensor, *, eps: float, alpha: float, steps: int, repeats: int,
              compile: bool, seed: int = 0) -> list[dict]:
    """One dict per row of :data:`VARIANTS`: status, median seconds per batch (and every time),
    images/s, speed-up over torchattacks (ratio of medians), clean and robust accuracy, FLOPs per
    image and achieved FLOP/s (the caller, who measured the peak, adds the fraction of it)."""
    device = images.device
    model.eval()
    with torch.no_grad():
        labels = model(images).argmax(1)
    flops_per_image = steps * attack_step_flops(model, images, labels) / len(images)

    rows, peers, compiled = {}, [], {}
    for variant in VARIANTS:
        row = rows[variant.name] = {"name": variant.name, "library": variant.library,
                                    "precision": variant.precision, "compile": variant.compile,
                                    "early_stop": variant.early_stop, "lever": variant.lever,
                                    "peer": variant.peer}
        if variant.cuda_only and device.type != "cuda":
            row.update(status="skipped", note="CUDA only")
            continue
        if not variant.fused_attention and not any(hasattr(m, "fused_attn") for m in model.modules()):
            row.update(status="skipped", note="the model has no attention")
            continue
        if variant.compile is not None and not compile:
            row.update(status="skipped", note="compile off (--skip-compile, or --quick without --compile)")
            continue
        attack = _attack(variant, model, compiled, eps, alpha, steps)
        outputs = {}

        def run(variant=variant, attack=attack, outputs=outputs):
            with _settings(model, variant):
                outputs["adv"] = attack(images, labels)

        peers.append(Peer(variant.name, run, setup=lambda: torch.manual_seed(seed)))
        row["_outputs"] = outputs
        row["_variant"] = variant

    for peer in time_peers(peers, repeats, device):
        row = rows[peer.name]
        outputs, variant = row.pop("_outputs"), row.pop("_variant")
        if peer.error is not None:
            row.update(status="failed", note=peer.error)
            continue
        row.update(status="ok", seconds=peer.median, times=peer.times, images_per_s=len(images) / peer.median,
                   clean_acc=_accuracy(model, images, labels, variant),
                   robust_acc=_accuracy(model, outputs["adv"], labels, variant), flops_per_image=flops_per_image)
        # Early stop skips the work on samples already broken: its nominal FLOPs were not all done.
        row["flops_per_s"] = None if row["early_stop"] else flops_per_image * row["images_per_s"]

    reference = rows[REFERENCE]
    for row in rows.values():
        if row["status"] == "ok" and reference["status"] == "ok":
            row["speedup"] = row["images_per_s"] / reference["images_per_s"]
            # Per round (peers alternate within a round): the spread shows what noise could do.
            row["speedup_by_round"] = [ref / own for ref, own in zip(reference["times"], row["times"])]
            row["robust_acc_delta"] = row["robust_acc"] - reference["robust_acc"]
        peer = rows.get(row["peer"]) if row["peer"] else None
        if peer is not None and row["status"] == peer.get("status") == "ok":
            row["vs_peer"] = row["images_per_s"] / peer["images_per_s"]
    return list(rows.values())
