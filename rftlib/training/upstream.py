"""Upstream pretraining for offline studies: a tiny ViT trained from scratch on a synthetic task.

The paper starts from ViT-B/16 pretrained on ImageNet-21k; without network access (the demo, CI) we
need *some* pretrained backbone whose features the downstream fine-tuning can inherit or destroy.
This trains one with the same loop as every run (full fine-tuning of a randomly initialised model),
caches it under ``outputs/upstream/`` and returns a safetensors file in timm's key layout, to be
passed as ``weights=`` (the new task's head is re-initialised, as with hub weights).

Like a run, the pretraining takes an ``objective`` (``pgd_at``, ``trades``) and its ``objective_options``
(eps, the radius; steps; beta): a robustly pretrained backbone is where downstream runs inherit robustness
from, as in the robust-backbone studies (RoLI, Hua et al., CVPR 2024). The objective is part of the
pretraining run's name, so a robust and a plain upstream never share a cached file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rftlib.core.atomic import atomic_write
from rftlib.runs.config import RunConfig
from rftlib.core.options import build_dataclass

BACKBONE_FILE = "backbone.safetensors"


@dataclass
class UpstreamConfig:
    """The upstream task and its training. The defaults, a ViT-Tiny cut to 2 blocks of width 96 on
    16-px inputs (16 tokens), reach ~80% upstream accuracy in under a CPU minute; a 32-px, 12-block
    ViT-Tiny costs ~2 s a step on a CPU core and, from scratch, learns little in a few hundred."""

    model: str = "vit_tiny_patch16_224"
    model_kwargs: dict = field(default_factory=lambda: {
        "img_size": 16, "patch_size": 4, "depth": 2, "embed_dim": 96})
    image_size: int | None = None  # input side for models without img_size (CNNs); None: the model's
    dataset: str = "synthetic"
    dataset_options: dict = field(default_factory=lambda: {
        "num_classes": 10, "separability": 3.0, "train_size": 6000, "test_size": 500})
    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    seed: int = 1234  # distinct from the downstream runs' seeds: another task drawn from the generator
    objective: str = "standard"
    """"standard" (cross-entropy), "pgd_at" or "trades" (``rftlib.training.objectives``)."""
    objective_options: dict = field(default_factory=dict)
    """The training attack's settings (``RunConfig.objective_options``): eps, alpha, steps, beta. With a
    robust objective the upstream's evaluation attacks at the same eps, so its records say how robust the
    backbone came out."""
    output_dir: str = "outputs/upstream"


def pretrain(progress: bool = True, **options) -> Path:
    """Train (or find cached) the upstream backbone; returns its safetensors path."""
    run_config, run_dir = upstream_run(**options)
    weights = run_dir / BACKBONE_FILE
    if weights.exists():
        return weights

    from safetensors.torch import load_file, save_file  # imports torch: here, not where a sweep is checked

    from rftlib.training import finetune

    result = finetune(run_config, run_dir=run_dir, progress=progress)
    # Our classifier wraps the timm model as `backbone`; timm's loaders expect its own keys.
    tensors = {name.removeprefix("backbone."): tensor
               for name, tensor in load_file(run_dir / "trainable.safetensors").items()}
    metadata = {"upstream_clean_acc": str(result.summary["final"]["clean_acc"])}
    return atomic_write(weights, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def cached_weights(**options) -> Path | None:
    """The backbone ``pretrain(**options)`` returns, when it is already pretrained; None otherwise."""
    _, run_dir = upstream_run(**options)
    weights = run_dir / BACKBONE_FILE
    return weights if weights.exists() else None


def upstream_run(**options) -> tuple[RunConfig, Path]:
    """The fine-tuning run that pretrains the upstream backbone of ``options``, and its directory."""
    upstream = build_dataclass(UpstreamConfig, options, "upstream option")
    attack, robust = {"steps": 2}, {}
    if upstream.objective != "standard" or upstream.objective_options:  # a plain upstream keeps its run name
        robust = dict(objective=upstream.objective, objective_options=upstream.objective_options)
        eps = upstream.objective_options.get("eps")
        if isinstance(eps, (int, float)) and not isinstance(eps, bool):
            attack.update(eps=eps, alpha=eps / 2)
    run_config = RunConfig.from_dict(dict(
        model=upstream.model, model_kwargs=upstream.model_kwargs, image_size=upstream.image_size,
        pretrained=False, strategy="full",
        dataset=upstream.dataset, dataset_options=upstream.dataset_options, seed=upstream.seed,
        max_steps=upstream.steps, batch_size=upstream.batch_size, lr=upstream.lr,
        weight_decay=upstream.weight_decay, warmup_steps=upstream.steps // 10, lr_schedule="cosine",
        schedule=[], eval_size=500, attack=attack, output_dir=upstream.output_dir, **robust,
    ))
    return run_config, Path(upstream.output_dir) / run_config.run_name()
