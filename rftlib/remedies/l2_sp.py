"""L2-SP (Li, Grandvalet & Davoine, "Explicit inductive bias for transfer learning with convolutional
networks", ICML 2018): the training loss plus

    Ω(w) = α/2 · ‖w_S − w_S⁰‖²  +  β/2 · ‖w_S̄‖²

where w_S are the parameters with a starting point (the paper: those of the pretrained network,
pulled back towards w_S⁰ rather than towards 0) and w_S̄ those without one (the paper: the new
classification layer, under plain L2). TLlib's ``SPRegularization`` uses α = β = 0.01.

Which parameters have a starting point (``l2_sp: {alpha, beta}`` composes with every strategy):

- every trainable parameter that is not the new head is anchored at its value when fine-tuning starts:
  for full fine-tuning and BitFit those are the pretrained weights and biases, exactly the paper's w_S⁰;
- the new modules of a PEFT strategy (LoRA factors, Adapter and Compacter layers, (IA)³ scales) have no
  pretrained value; their starting point is their initialisation, at which the model computes the
  pretrained function (LoRA B = 0, (IA)³ scales 1) or nearly (Adapter / Compacter, N(0, 0.02) weights).
  Their drift from it *is* the fine-tuning update, so they are anchored too (α term). Putting them in the
  β term instead, as "new layers", would pull (IA)³ scales towards 0, switching the scaled layers off,
  not towards the pretrained model; the paper's intent (stay close to the source) needs the α term.
  For LoRA, the α term on the factors (not on the merged ΔW = BA) is the paper's term on the trainable
  parameters; the frozen W0 never moves;
- the classification head(s) (``get_classifier()``, randomly initialised) take the β term.

Frozen parameters carry no term (they cannot move). The penalty is part of the minimised loss: its
gradient goes through the run's gradient clipping and the optimiser like the data term's.
"""
from __future__ import annotations

import torch
from torch import nn

from rftlib.strategies import backbone_of, classifier_modules
from rftlib.remedies.checks import L2SPOptions, l2_sp_options


class L2SP:
    """The penalty of one prepared model (after ``apply_strategy``), its starting point taken now.

    ``anchored``: (name, parameter, start) of every trainable non-head parameter; ``head``: (name,
    parameter) of the trainable head parameters. ``penalty()`` is a scalar tensor in fp32.
    """

    def __init__(self, model: nn.Module, *, alpha: float = 0.01, beta: float = 0.01):
        self.alpha, self.beta = float(alpha), float(beta)
        head_ids = {id(p) for module in classifier_modules(backbone_of(model)) for p in module.parameters()}
        self.anchored: list[tuple[str, nn.Parameter, torch.Tensor]] = []
        self.head: list[tuple[str, nn.Parameter]] = []
        for name, parameter in model.named_parameters():  # a shared parameter once
            if not parameter.requires_grad:
                continue
            if id(parameter) in head_ids:
                self.head.append((name, parameter))
            else:
                self.anchored.append((name, parameter, parameter.detach().clone()))

    def penalty(self) -> torch.Tensor:
        """α/2·Σ‖w − w_start‖² + β/2·Σ‖w_head‖², in fp32, differentiable in the parameters."""
        parameters = [p for _, p, _ in self.anchored] + [p for _, p in self.head]
        total = torch.zeros((), device=parameters[0].device if parameters else "cpu")
        if self.anchored:
            drift = sum(((p.float() - start.float()) ** 2).sum() for _, p, start in self.anchored)
            total = total + self.alpha / 2 * drift
        if self.head:
            total = total + self.beta / 2 * sum((p.float() ** 2).sum() for _, p in self.head)
        return total

    def starting_point(self) -> dict[str, torch.Tensor]:
        """The anchored parameters' starting values, by name."""
        return {name: start for name, _, start in self.anchored}


class WithL2SP:
    """An objective (``rftlib.training.objectives``) plus the L2-SP penalty: returns (loss + Ω, logits).
    ``last_penalty`` holds the latest Ω as a float (records report its mean as ``l2_sp_penalty``)."""

    def __init__(self, objective, l2_sp: L2SP):
        self.objective, self.l2_sp = objective, l2_sp
        self.last_penalty = 0.0

    def __repr__(self) -> str:
        return f"WithL2SP({self.objective!r}, alpha={self.l2_sp.alpha}, beta={self.l2_sp.beta})"

    def __call__(self, model, images, labels, *, step, precision="fp32"):
        loss, logits = self.objective(model, images, labels, step=step, precision=precision)
        penalty = self.l2_sp.penalty()
        self.last_penalty = float(penalty.detach())
        return loss + penalty, logits


__all__ = ["L2SP", "L2SPOptions", "WithL2SP", "l2_sp_options"]
