"""What each strategy declares, without torch: its options (a dataclass whose defaults are the paper's
configuration and whose checks run when it is built), its training defaults and a one-line summary.

As peft splits each method into a ``config`` and a ``model`` part, a strategy's configuration lives
here and its ``apply`` function (the nn.Module work) in its own module, ``rftlib.strategies.<name>``,
imported on first use: a run configuration is checked (``strategy_config``) and resolved
(``training_defaults``) without loading torch.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Literal

from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass
from rftlib.core.registry import Registry
from rftlib.strategies.roles import check_positions, check_roles, check_width


@dataclass(frozen=True)
class TrainingDefaults:
    """A strategy's default optimiser settings, after the released code (STUDY.md, "Training"): its
    schedules and warm-up; for the PEFT strategies, lr 5e-3 and weight decay 0 from its code comments
    (its command line defaults to lr 2e-5 and weight decay 0.01 for every strategy).

    Attributes:
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay (the trainer exempts biases and norms).
        warmup_steps: linear warm-up steps before the schedule.
        lr_schedule: decay after warm-up: "linear" (to 0) or "cosine".
    """

    lr: float
    weight_decay: float
    warmup_steps: int
    lr_schedule: Literal["linear", "cosine"]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# Full fine-tuning: lr 2e-5, wd 0.01, linear decay, no warm-up (HF Trainer defaults of the released code).
FULL_DEFAULTS = TrainingDefaults(lr=2e-5, weight_decay=0.01, warmup_steps=0, lr_schedule="linear")
# Every other strategy: cosine with 800 warm-up steps; lr 5e-3 and wd 0 as the released code's comments suggest.
PEFT_DEFAULTS = TrainingDefaults(lr=5e-3, weight_decay=0.0, warmup_steps=800, lr_schedule="cosine")




@dataclass(frozen=True)
class NoOptions:
    """For strategies without hyperparameters (full, linear_probe, bitfit)."""


@dataclass(frozen=True)
class LoraOptions:
    """LoRA hyperparameters (defaults: the paper's).

    Attributes:
        r: rank of each update B A.
        alpha: the update is scaled by alpha / r (8 / 8 = 1 in the paper).
        dropout: dropout on the input of the low-rank branch.
        targets: roles of the layers to adapt in every block, from q, k, v (the split qkv), proj, fc1,
            fc2; each family maps them to its own layers (rftlib.strategies.families).
    """

    r: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("q", "k", "v", "fc1", "fc2")

    def __post_init__(self):
        if self.r < 1:
            raise RftError(f"lora option 'r' must be a positive integer, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise RftError(f"lora option 'dropout' must be in [0, 1), got {self.dropout}")
        check_roles(self.targets, "lora")


@dataclass(frozen=True)
class AdapterOptions:
    """Houlsby adapter hyperparameters (defaults: the paper's).

    Attributes:
        reduction_factor: bottleneck width = hidden width // reduction_factor (768 // 8 = 96).
        bottleneck: an explicit bottleneck width, overriding reduction_factor.
        activation: non-linearity between down and up: gelu, relu, silu or tanh.
        init_std: standard deviation of the normal initialisation of both weight matrices.
        positions: where to insert: "attn" (after attn.proj) and/or "mlp" (after mlp.fc2).
    """

    reduction_factor: int = 8
    bottleneck: int | None = None
    activation: Literal["gelu", "relu", "silu", "tanh"] = "gelu"
    init_std: float = 0.02
    positions: tuple[str, ...] = ("attn", "mlp")

    def __post_init__(self):
        check_width(self.reduction_factor, "reduction_factor", "adapter")
        check_width(self.bottleneck, "bottleneck", "adapter")
        check_positions(self.positions, "adapter")


@dataclass(frozen=True)
class CompacterOptions:
    """Compacter hyperparameters (defaults: the paper's, i.e. AdapterHub's CompacterConfig).

    Attributes:
        reduction_factor: bottleneck width = hidden width // reduction_factor (768 // 32 = 24), rounded
            up to a multiple of phm_dim.
        bottleneck: an explicit bottleneck width (a multiple of phm_dim), overriding reduction_factor.
        phm_dim: n, the number of Kronecker summands; it must divide the widths.
        phm_rank: rank of each factorised B_i = s_i t_i^T.
        shared_rule: one rule tensor A for the whole model (True, the paper) or one per PHM layer.
        rule_init_std: standard deviation of the normal initialisation of the rule.
        activation: non-linearity between down and up: gelu, relu, silu or tanh.
        bias: PHM layers have a bias.
        positions: where to insert: "attn" (after attn.proj) and/or "mlp" (after mlp.fc2).
    """

    reduction_factor: int = 32
    bottleneck: int | None = None
    phm_dim: int = 4
    phm_rank: int = 1
    shared_rule: bool = True
    rule_init_std: float = 1e-4
    activation: Literal["gelu", "relu", "silu", "tanh"] = "gelu"
    bias: bool = True
    positions: tuple[str, ...] = ("attn", "mlp")

    def __post_init__(self):
        for name in ("reduction_factor", "bottleneck", "phm_dim", "phm_rank"):
            check_width(getattr(self, name), name, "compacter")
        if self.bottleneck is not None and self.bottleneck % self.phm_dim:
            raise RftError(
                f"compacter option 'bottleneck' ({self.bottleneck}) must be a multiple of phm_dim ({self.phm_dim})"
            )
        check_positions(self.positions, "compacter")


@dataclass(frozen=True)
class IA3Options:
    """(IA)^3 hyperparameters (defaults: the paper's).

    Attributes:
        targets: roles of the layers of every block whose output is scaled, from q, k, v (the split
            qkv), proj, fc1, fc2; each family maps them to its own layers.
    """

    targets: tuple[str, ...] = ("k", "v", "fc1", "fc2")

    def __post_init__(self):
        check_roles(self.targets, "ia3")


@dataclass(frozen=True)
class Strategy:
    """One registry entry.

    Attributes:
        name: registry name, e.g. "lora".
        options: dataclass of the strategy's hyperparameters (defaults = the paper's configuration).
        defaults: the optimiser settings the paper uses with it.
        summary: one line on what trains, for tables and ``--help``.
        module: the module whose ``apply(backbone, options)`` modifies the timm model in place and returns
            the parameters the strategy trains (the classifier head is added by ``apply_strategy``);
            imported on first use of :attr:`apply`.
    """

    name: str
    options: type
    defaults: TrainingDefaults
    summary: str
    module: str

    @property
    def apply(self):
        """The strategy's ``apply`` function (imports its module, and torch)."""
        return importlib.import_module(self.module).apply


REGISTRY: Registry[Strategy] = Registry("strategy")


def register(name: str, *, options: type, defaults: TrainingDefaults, summary: str,
             module: str | None = None) -> Strategy:
    """File a strategy in :data:`REGISTRY`; its ``apply`` lives in ``module`` (default
    ``rftlib.strategies.<name>``)."""
    return REGISTRY.add(name, Strategy(name, options, defaults, summary, module or f"{__package__}.{name}"))


# The paper's order.
register("full", options=NoOptions, defaults=FULL_DEFAULTS, summary="every parameter")
register("linear_probe", options=NoOptions, defaults=PEFT_DEFAULTS, summary="the classification head only")
register("lora", options=LoraOptions, defaults=PEFT_DEFAULTS, summary="low-rank updates of q, k, v, fc1, fc2")
register("adapter", options=AdapterOptions, defaults=PEFT_DEFAULTS,
         summary="Houlsby bottleneck adapters after attention and MLP")
register("compacter", options=CompacterOptions, defaults=PEFT_DEFAULTS,
         summary="PHM (Kronecker) adapters after attention and MLP, shared rule")
register("bitfit", options=NoOptions, defaults=PEFT_DEFAULTS,
         summary="every bias (in a ViT: attention, MLP, norms, patch embedding)")
register("ia3", options=IA3Options, defaults=PEFT_DEFAULTS, summary="scaling vectors on k, v, fc1, fc2 outputs")

#: Strategy names in the paper's order.
STRATEGIES: tuple[str, ...] = tuple(REGISTRY.names())


def strategy_config(name: str, **overrides):
    """The options dataclass of strategy ``name``: the paper's configuration updated by ``overrides``.

    Validates without a model: an unknown strategy, an option the strategy lacks, a value of the
    wrong type or out of range raises RftError naming the valid choices.
    """
    strategy = REGISTRY.get(name)
    if overrides and not strategy.options.__dataclass_fields__:
        raise RftError(f"strategy {name!r} takes no options, got {', '.join(sorted(overrides))}")
    return build_dataclass(strategy.options, overrides, f"{name} option")


def training_defaults(name: str) -> dict:
    """The optimiser settings the paper uses with strategy ``name``: lr, weight_decay, warmup_steps,
    lr_schedule (full: 2e-5, 0.01, 0, "linear"; the others: 5e-3, 0.0, 800, "cosine")."""
    return REGISTRY.get(name).defaults.as_dict()


__all__ = ["AdapterOptions", "CompacterOptions", "FULL_DEFAULTS", "IA3Options", "LoraOptions", "NoOptions",
           "PEFT_DEFAULTS", "REGISTRY", "STRATEGIES", "Strategy", "TrainingDefaults", "register", "strategy_config",
           "training_defaults"]
