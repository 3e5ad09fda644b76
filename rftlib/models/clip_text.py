"""CLIP's text tower, the class prompts and the zero-shot head built from them.

The zero-shot classifier of CLIP (Radford et al. 2021) as WiSE-FT (Wortsman et al., CVPR 2022) and FLYP
(Goyal et al., CVPR 2023) build it: for class c, the text embeddings of its name under every template
t ("a photo of a {}.", ...) are each normalised, averaged and normalised again,

    w_c = normalise(mean_t normalise(text(t(c)))),

and the logits of an image x are ``exp(logit_scale) · normalise(image(x)) · w_c`` (``logit_scale`` is
CLIP's learned log-temperature, ln 100 for OpenAI's models). The head is a Linear whose weight is
exp(logit_scale)·W and whose bias is 0 (WiSE-FT's ClassificationHead), applied to the normalised image
embedding (:class:`rftlib.models.clip.ClipImageClassifier`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError

#: Prompts encoded per forward pass when building a head (C·T of them: 27,600 for DomainNet's 345
#: classes under 80 templates).
TEXT_BATCH = 512


class _TextPieces(nn.Module):
    """The text encoder of open_clip's ``CLIP`` class, whose text tower is kept as attributes of the
    model itself; ``forward`` is open_clip's own ``CLIP.encode_text``, which reads only these."""

    def __init__(self, clip: nn.Module):
        super().__init__()
        self.transformer, self.token_embedding, self.ln_final = clip.transformer, clip.token_embedding, clip.ln_final
        self.positional_embedding, self.text_projection = clip.positional_embedding, clip.text_projection
        self.text_pool_type, self.text_eos_id = clip.text_pool_type, getattr(clip, "text_eos_id", None)
        self.register_buffer("attn_mask", clip.attn_mask, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        from open_clip.model import CLIP

        return CLIP.encode_text(self, tokens)


class ClipTextTower(nn.Module):
    """CLIP's text encoder, its logit scale and the tokenised class prompts.

    Attributes:
        encoder: the text transformer (``encoder(tokens) -> embeddings``, unnormalised).
        logit_scale: CLIP's log-temperature Parameter (a 0-d tensor, or shape (1,)).
        prompts: LongTensor (classes, templates, context) of the tokenised prompts, a buffer left out of
            the state dict (it is rebuilt from the class names and templates).
        templates: the templates, with ``{}`` where the class name goes.
    """

    def __init__(self, clip: nn.Module):
        super().__init__()
        text = getattr(clip, "text", None)  # open_clip's CustomTextCLIP keeps its text tower as one module
        self.encoder = text if isinstance(text, nn.Module) else _TextPieces(clip)
        self.logit_scale = clip.logit_scale
        self.templates: tuple[str, ...] = ()
        self.register_buffer("prompts", torch.zeros(0, 0, 0, dtype=torch.long), persistent=False)

    def set_prompts(self, tokenizer, class_names, templates) -> None:
        """Tokenise every (class name, template) pair: ``prompts[c, t] = tokenizer(templates[t] with
        class_names[c])``."""
        class_names, templates = list(class_names), list(templates)
        if not templates or any("{}" not in t for t in templates):
            raise RftError(f"prompt templates must each hold '{{}}' where the class name goes, got {templates}")
        texts = [template.format(name) for name in class_names for template in templates]
        tokens = tokenizer(texts).view(len(class_names), len(templates), -1)
        self.prompts = tokens.to(self.logit_scale.device)
        self.templates = tuple(templates)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Normalised text embeddings of ``tokens`` (N, context)."""
        return F.normalize(self.encoder(tokens), dim=-1)

    def class_embeddings(self) -> torch.Tensor:
        """(classes, embedding) normalised means of the normalised prompt embeddings of each class."""
        if self.prompts.numel() == 0:
            raise RftError("the text tower has no class prompts (set_prompts first)")
        classes, templates, context = self.prompts.shape
        flat = self.prompts.reshape(-1, context)
        embeddings = torch.cat([self.encode(flat[i:i + TEXT_BATCH]) for i in range(0, len(flat), TEXT_BATCH)])
        return F.normalize(embeddings.view(classes, templates, -1).mean(dim=1), dim=-1)

    def zero_shot_weight(self) -> torch.Tensor:
        """The zero-shot head's weight: exp(logit_scale) times the class embeddings."""
        return self.logit_scale.exp() * self.class_embeddings()


__all__ = ["ClipTextTower", "TEXT_BATCH"]
