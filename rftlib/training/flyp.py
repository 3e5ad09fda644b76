"""FLYP: "Finetune like you pretrain" (Goyal, Kumar, Garg, Kolter & Raghunathan, CVPR 2023; locuslab/FLYP).

A zero-shot CLIP is fine-tuned with CLIP's own contrastive loss instead of cross-entropy on a head: each
training image is paired with a caption, its class name under one of the dataset's prompt templates
drawn at random (FLYP's ImageNet captions are every template of the image's class, one per row), and
for a batch of B pairs with normalised image and text embeddings I, T and logit scale s,

    L = ½ · [CE(s·I·Tᵀ, diag) + CE(s·T·Iᵀ, diag)],

the symmetric InfoNCE loss of CLIP over the batch (``clip.loss.ClipLoss`` in FLYP's code, which also
counts two images of the same class and template as negatives of each other; so does this one). The
classifier is never trained: at every evaluation it is the zero-shot head of the current text tower
(``ClipClassifier.head_from_text``), as FLYP evaluates after each epoch.

``objective: flyp`` with ``objective_options: {train_text: true}`` (the paper: the text tower and the
logit scale train with the image tower; ``false`` keeps them at their pretrained values). It composes
with every strategy, which decides what trains in the image tower (FLYP's paper: full), with continuous
evaluation (step 0 is the zero-shot model), with L2-SP and with WiSE-FT (from the zero-shot model: the
text tower is interpolated with the image tower, and the head follows it). The template of each image is
drawn from a generator seeded by (run seed, step), so a resumed run sees the same captions.
The training accuracy of a FLYP run is in-batch: an image counts as right when the caption it is
closest to names its class, among the classes of the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.devices import autocast_for
from rftlib.core.errors import RftError
from rftlib.core.seeding import derived_seed

#: Mixed into the caption draws' seed so they never repeat the evaluation attack's stream.
CAPTION_STREAM = 0x666C7970  # "flyp"


def template_indices(seed: int, step: int, count: int, templates: int) -> torch.Tensor:
    """The template of each of ``count`` images at training step ``step``: uniform, seeded by (seed, step)."""
    generator = torch.Generator().manual_seed(derived_seed(seed, step, CAPTION_STREAM))
    return torch.randint(templates, (count,), generator=generator)


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric loss of the (B, B) image-caption logits whose diagonal pairs match, in fp32."""
    logits = logits.float()
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def in_batch_class_logits(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, classes) logits for the training accuracy: for each class in the batch, an image's largest
    logit against a caption of that class; -inf for classes not in the batch."""
    out = torch.full((len(logits), num_classes), float("-inf"), device=logits.device, dtype=torch.float32)
    return out.scatter_reduce(1, labels.view(1, -1).expand(len(logits), -1), logits.float(), reduce="amax")


def flyp_loss(model, images: torch.Tensor, labels: torch.Tensor, *, seed: int, step: int,
              precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    """(FLYP's loss of the batch, in-batch class logits): each image against the captions of the batch
    (its class under a template drawn by (``seed``, ``step``)), with ``model`` from :func:`prepare_flyp`."""
    text = getattr(model, "text", None)
    if text is None or text.prompts.numel() == 0:
        raise RftError("objective 'flyp' needs an open_clip model with its text tower and class prompts "
                       "(built by rftlib.finetune, or build_model(..., class_names=, templates=, keep_text=True))")
    picks = template_indices(seed, step, len(labels), text.prompts.shape[1]).to(text.prompts.device)
    tokens = text.prompts[labels.to(text.prompts.device), picks]
    with autocast_for(images.device, precision):
        image = model.image_features(images)
        caption = text.encode(tokens.to(images.device))
        logits = text.logit_scale.exp() * image @ caption.T
    return contrastive_loss(logits), in_batch_class_logits(logits.detach(), labels, model.num_classes)


def prepare_flyp(model: nn.Module, *, train_text: bool = True) -> nn.Module:
    """Make ``model`` (an open_clip ClipClassifier with its text tower, its strategy applied) a FLYP
    model: the head follows the text tower and is not trained; the text tower and logit scale train
    with ``train_text``. In place; returns the model."""
    if getattr(model, "text", None) is None or not hasattr(model, "head_from_text"):
        raise RftError("objective 'flyp' needs an open_clip model (model: open_clip:...) built with its text tower")
    model.text.requires_grad_(train_text)
    model.backbone.get_classifier().requires_grad_(False)
    model.head_from_text = True
    return model


__all__ = ["CAPTION_STREAM", "contrastive_loss", "flyp_loss", "in_batch_class_logits", "prepare_flyp",
           "template_indices"]
