"""The configuration of one fine-tuning run: every setting of STUDY.md as a documented, typed field.

A run is fully described by its resolved ``RunConfig``: the run's directory name is derived from it
(so two configurations never share a directory), and it is written beside the results.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass, check_keys
from rftlib.runs.schedule import EvalSchedule
from rftlib.core.validation import integer, number
from rftlib.core.yamlio import load_yaml, parse_yaml

PAPER_MODEL = "vit_base_patch16_224.orig_in21k"

# PGD settings of the paper (STUDY.md "Continuous evaluation"); overridable per run.
PAPER_ATTACK = {"eps": 1 / 255, "alpha": 0.25 / 255, "steps": 15, "random_start": True}
# Keys ``attack`` also takes without a paper default (so that leaving them out keeps run names):
# norm, "Linf" (the paper's), "L2" or "L1" (not for PGD), with eps in that norm's units.
ATTACK_EXTRA_KEYS = ("norm",)


@dataclass
class RunConfig:
    """One fine-tuning run with continuous evaluation. Defaults are the paper's settings."""

    # --- model ---------------------------------------------------------------------------------
    model: str = PAPER_MODEL
    """timm model name; the paper's ViT-B/16 pretrained on ImageNet-21k by default. ``open_clip:<arch>``
    (``open_clip:ViT-B-16``): an open_clip CLIP's image tower, starting as the zero-shot classifier of the
    task (``rftlib.models.clip``)."""
    model_kwargs: dict = field(default_factory=dict)
    """Extra keyword arguments for ``timm.create_model``, e.g. ``{img_size: 32, patch_size: 4}``."""
    pretrained: bool | str = True
    """Start from pretrained weights (from the hub, or from ``weights``). An open_clip model takes an open_clip
    tag (``openai``, ``laion2b_s34b_b88k``, ...) or a local checkpoint path instead of true."""
    weights: str | None = None
    """Local weights file (safetensors or timm checkpoint) instead of the hub; for an open_clip model, a whole
    CLIP or an image tower alone (TeCoA's, FARE's robust checkpoints) loaded over ``pretrained``."""
    # --- strategy ------------------------------------------------------------------------------
    strategy: str = "lora"
    """One of ``rftlib.STRATEGIES``."""
    strategy_options: dict = field(default_factory=dict)
    """Overrides of the strategy's hyperparameters, e.g. ``{r: 4}`` for LoRA."""
    # --- data ----------------------------------------------------------------------------------
    dataset: str = "cifar10"
    """A name registered in ``rftlib.data``."""
    dataset_options: dict = field(default_factory=dict)
    """Passed to ``rftlib.data.load_task``: ``path``, ``cache_dir``, synthetic generator options."""
    domain: str | None = None
    """Training domain for datasets with domains (DomainNet); the others give OOD accuracy."""
    image_size: int | None = None
    """Input resolution; None follows the model (224 for ViT-B/16)."""
    val_fraction: float = 0.1
    """Share of the training split held out for validation (seeded)."""
    seed: int = 0
    """Seeds the split, the data order, head and adapter initialisation and the attack's start."""
    # --- optimisation --------------------------------------------------------------------------
    epochs: float = 3.0
    """Training length in epochs (ignored when ``max_steps`` is set)."""
    max_steps: int | None = None
    """Training length in optimiser steps; overrides ``epochs``."""
    batch_size: int = 128
    lr: float | None = None
    """Peak learning rate; None: the strategy's default (full 2e-5, others 5e-3)."""
    weight_decay: float | None = None
    """AdamW weight decay (never on biases and norms); None: the strategy's default (full 0.01, others 0)."""
    warmup_steps: int | None = None
    """Linear warm-up steps; None: the strategy's default (full 0, others 800)."""
    lr_schedule: Literal["auto", "cosine", "linear", "constant"] = "auto"
    """After warm-up: cosine or linear decay to 0, or constant; auto: the strategy's default."""
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    grad_clip: float | None = 1.0
    """Gradient-norm clipping; None disables it."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16 runs forward and backward (training and attack) under autocast."""
    objective: str = "standard"
    """Training objective (``rftlib.training.objectives``): "standard" (the paper's cross-entropy),
    "pgd_at" (Madry et al. 2018), "trades" (Zhang et al. 2019) or, for open_clip models, "flyp" (Goyal et
    al. 2023: CLIP's contrastive loss against the class prompts; ``objective_options: {train_text: true}``,
    ``rftlib.training.flyp``)."""
    objective_options: dict = field(default_factory=dict)
    """The training attack's settings for pgd_at and trades, separate from ``attack``: eps (default:
    the evaluation attack's eps), alpha (eps / 4), steps (10), random_start (true); trades: beta (6.0);
    eps_schedule (None, or ``{clean: 0.1, ramp: 0.3}``: clean inputs for that fraction of the steps, then
    eps ramps up linearly over the next fraction; Ngnawé et al., ``rftlib.remedies.eps_schedule``)."""
    l2_sp: dict | None = None
    """L2-SP (Li, Grandvalet & Davoine, ICML 2018; ``rftlib.remedies.l2_sp``): ``{alpha: 0.01, beta: 0.01}``
    adds α/2·‖w − w_start‖² on every trainable parameter but the head (pretrained weights; PEFT modules
    at their initialisation) and β/2·‖w_head‖² to the loss; records then hold ``l2_sp_penalty``. None: off."""
    # --- evaluation ----------------------------------------------------------------------------
    schedule: str | list = "paper"
    """Evaluation steps: a preset ("paper", "released") or a list of ``[up_to, every]`` phases."""
    eval_size: int | str = 1000
    """Examples of the fixed, seeded evaluation subset of the test split (and OOD split); "all" for all."""
    eval_batch_size: int = 256
    attack: dict = field(default_factory=dict)
    """Overrides of the PGD settings: eps, alpha, steps, random_start (paper: 1/255, 0.25/255, 15, true)
    and norm ("Linf", the paper's, or "L2"; eps in the norm's units, alpha then eps / 4 unless set).
    They are also the defaults of every ``pgd`` entry of ``attacks``."""
    attacks: list[dict] | None = None
    """Attacks for continuous evaluation, each ``{name: <one of rftlib.attacks.ATTACKS>, label: <record
    column suffix, default the name>, **options}``; records hold ``adv_acc_<label>`` for each and
    ``adv_acc``, the per-sample worst case over all of them. None: the paper's single PGD (``attack``).
    Entries without an eps take ``attack``'s, and its norm where they have one (``norm``: Linf, L2, L1
    where the attack defines it; an entry in another norm than ``attack``'s sets its own eps)."""
    final_model: Literal["last", "best_val", "robust_val"] = "last"
    """The run's result (summary ``final``, ``trainable.safetensors``): the model after the last step, or,
    as the released code does, the evaluated model of highest validation accuracy (``val_acc``,
    measured at every evaluation on the seeded validation hold-out, ``eval_size`` examples), or
    (robust checkpoint selection, RQ4) the one of highest robust validation accuracy (``val_adv_acc``,
    every configured attack on the same hold-out; ``rftlib.training.best``). Never the test split."""
    selection_tolerance: float | None = None
    """With ``final_model: robust_val``: choose only among the evaluations whose ``val_acc`` is within this
    much ([0, 1]) of the run's best ``val_acc``; None: among all."""
    corruptions: dict | None = None
    """Common-corruption accuracy (Hendrycks & Dietterich 2019) on the evaluation subset, off by default:
    ``{names: [...], severities: [3], size: N}`` (``rftlib.data.corruptions.CorruptionOptions``; ``{}``:
    the 15 corruptions at severity 3 on the whole subset). Needs images of at least 32 px."""
    final_autoattack: dict | None = None
    """Standard AutoAttack at the end of the run on a fixed, seeded subset of the evaluation points, of
    the final model and of the model at the step of peak PGD robustness (whose trainable weights the run
    keeps): ``{size: 500, **AutoAttack options}``, eps defaulting to PGD's; ``steps`` / ``square_queries``
    below 100 / 5000 make a cheaper, non-standard version. The summary's ``autoattack`` says by how much
    PGD overstated robustness at the peak and at the end. None: off."""
    robustness_curve: dict | None = None
    """Robust accuracy over a list of radii (Göpfert et al. 2020), ``{radii: [...], norm: Linf|L2|L1,
    attack: {name: pgd|apgd|apgd_t|apgd_ce_t, ...}, when: end|every}`` (``rftlib.attacks.threat_config.CurveOptions``):
    records hold ``curve_<k>_acc`` per radius and ``curve_auc``, the normalised area under the curve; the
    summary's ``robustness_curve`` adds its 95% interval. Each radius attacks only the points that
    survived the smaller ones (``rftlib.attacks.robustness_curve``). None: off."""
    # --- remedies (RQ4) ------------------------------------------------------------------------
    lp_ft: dict | None = None
    """LP-FT (Kumar et al., ICLR 2022): a head-only stage on the frozen pretrained backbone first, then
    the configured strategy from that head: ``{steps: 200, lr: 5e-3, objective: standard,
    objective_options: {}}`` (constant lr, AdamW; a robust probe objective, pgd_at or trades, is RoLI,
    Hua et al., CVPR 2024). The probe head is kept as ``probe_head.safetensors``; step 0 of the records
    is the probed model. Not with ``linear_probe``. None: off (``rftlib.training.lp_ft``)."""
    wise_ft: dict | None = None
    """WiSE-FT (Wortsman et al., CVPR 2022) at the end of the run: ``{alphas: [0, 0.25, 0.5, 0.75, 1],
    start: probe|initial|zeroshot}``, θ_α = (1 − α)·θ_start + α·θ_end evaluated on the run's evaluation
    points, written to ``wise_ft.jsonl``; start ``probe`` (default for timm models): the pretrained backbone
    with a linear-probe head, ``initial``: the run's own initial model, ``zeroshot`` (default for open_clip
    models): the zero-shot CLIP classifier, as in the WiSE-FT paper. None: off (``rftlib.training.wise_ft``)."""
    # --- execution -----------------------------------------------------------------------------
    device: str = "auto"
    """"auto" (CUDA when available), "cpu", "cuda", "cuda:1", ..."""
    num_workers: int = 0
    """DataLoader worker processes for the training data."""
    checkpoint: bool = True
    """Write a resumable checkpoint at every evaluation step."""
    output_dir: str = "outputs/runs"
    """Where run directories are created (when no explicit run directory is given)."""
    tracking: dict | None = None
    """Mirror the run live in MLflow (``rftlib.tracking``): ``{backend: mlflow, uri: <store>, experiment:
    <name>}``, every key optional (``{}``: $MLFLOW_TRACKING_URI, else outputs/mlflow.db; the experiment
    named after the folder holding the run directory). None: off. Where results are mirrored, not what
    the run computes: left out of the run's identity and name."""

    # Fields that change where and how fast a run goes, never what it computes: left out of the
    # run's identity so a resumed run on another machine finds its directory.
    NON_IDENTITY = ("device", "num_workers", "output_dir", "checkpoint", "eval_batch_size", "tracking")
    # Fields added after the first release: left out of the run's identity while they hold their
    # default, so configurations that do not use them keep their run names and finished runs still load.
    ADDED_FIELDS: ClassVar[tuple[str, ...]] = ("attacks", "final_model", "objective", "objective_options",
                                                "corruptions", "final_autoattack", "lp_ft", "wise_ft",
                                                "l2_sp", "selection_tolerance", "robustness_curve")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def identity(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The part of a (resolved) configuration mapping that decides what a run computes: every field
        but NON_IDENTITY, and the ADDED_FIELDS only where they differ from their default (a stored
        config.yaml written before a field existed counts as holding its default)."""
        defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                    for f in dataclasses.fields(cls)}
        return {k: v for k, v in values.items()
                if k not in cls.NON_IDENTITY and not (k in cls.ADDED_FIELDS and v == defaults[k])}

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any], *, here: bool = False) -> "RunConfig":
        """Build from a mapping; unknown keys and wrong types are RftErrors naming the key. ``here``:
        see ``validated``."""
        return build_dataclass(cls, values, "run config key").validated(here=here)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | dict | None = None, *,
                  here: bool = False) -> "RunConfig":
        """Load a YAML file and apply overrides (``["lr=1e-3", "attack.steps=5"]`` or a dict). ``here``:
        see ``validated``."""
        values = load_yaml(path, "config file")
        return cls.from_dict(apply_overrides(values, overrides or []), here=here)

    @classmethod
    def coerce(cls, config: "RunConfig | dict | str | Path") -> "RunConfig":
        if isinstance(config, RunConfig):
            return config.validated()
        if isinstance(config, dict):
            return cls.from_dict(config)
        if isinstance(config, (str, Path)):
            return cls.from_yaml(config)
        raise RftError(f"a run config is a RunConfig, a mapping or a YAML path, got {type(config).__name__}")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    def replace(self, **changes) -> "RunConfig":
        return RunConfig.from_dict({**self.to_dict(), **changes})

    # ------------------------------------------------------------------------------------------
    def validated(self, *, here: bool = False) -> "RunConfig":
        """Check every value against the registries and its range; returns self. ``here``: the run will
        train on this machine (``rft run``), so a CUDA device is also refused where no GPU driver exists
        (a sweep's driver or a dry run may be on another machine than the runs).

        The one check of a run's values (``rft run``, ``rft sweep`` and ``--dry-run`` all come
        here), made before anything is loaded or written. Types are enforced by build_dataclass;
        ranges use ``rftlib.core.validation``: a new field adds its line here. Every check that the
        configuration alone decides runs without importing torch or timm (a refusal is one line within
        a second); only the family check of the model, built on the meta device, comes after them."""
        from rftlib.runs import preflight
        from rftlib.attacks.settings import attack_settings
        from rftlib.runs.objective_options import objective_options
        from rftlib.remedies.checks import check_remedies
        from rftlib.strategies.config import strategy_config

        strategy_config(self.strategy, **self.strategy_options)  # unknown strategy or option
        check_remedies(self)  # L2-SP weights, eps_schedule's objective, robust selection's tolerance
        preflight.check_dataset(self.dataset, self.domain, self.dataset_options)  # before the attacks' class checks
        EvalSchedule.from_spec(self.schedule)
        check_keys(self.attack, [*PAPER_ATTACK, *ATTACK_EXTRA_KEYS], "attack option")
        self.check_attacks()
        from rftlib.attacks.threat_config import check_attack_radii, curve_options, input_dimension

        dimension = input_dimension(self.image_size, self.model, self.model_kwargs)
        check_attack_radii(self.attack_specs(), self.attack, dimension)
        for spec in self.attack_specs():  # each attack's own value checks, as its class makes them
            attack_settings(spec["name"], **{k: v for k, v in spec.items() if k not in ("name", "label")})
        if self.robustness_curve is not None:
            curve_options(self.robustness_curve, dimension)
        objective_options(self.objective, **self.objective_options)  # unknown objective, option or value
        if self.corruptions is not None:
            from rftlib.data.corruption_options import check_image_size, corruption_options

            corruption_options(self.corruptions)  # unknown corruption or key, severity outside 1-5
            size = self.image_size or self.model_kwargs.get("img_size")
            if isinstance(size, int):  # otherwise the model's default, known once it is built
                check_image_size(size)
        self._check_remedies(objective_options)
        if isinstance(self.eval_size, str) and self.eval_size != "all":
            raise RftError(f"eval_size must be a positive integer or 'all', got {self.eval_size!r}")
        if isinstance(self.eval_size, int) and self.eval_size < 1:
            raise RftError(f"eval_size must be a positive integer or 'all', got {self.eval_size}")
        for name in ("batch_size", "eval_batch_size"):
            integer(name, getattr(self, name), low=1)
        integer("max_steps", self.max_steps, low=1, optional=True)
        number("epochs", self.epochs, low=0, low_open=True)  # checked even where max_steps overrides it
        number("val_fraction", self.val_fraction, low=0, high=1, high_open=True)
        number("lr", self.lr, low=0, low_open=True, optional=True)  # lr 0 would "train" to the end
        number("weight_decay", self.weight_decay, low=0, optional=True)
        integer("warmup_steps", self.warmup_steps, low=0, optional=True)
        for i, beta in enumerate(self.betas):
            number(f"betas[{i}]", beta, low=0, high=1, high_open=True)
        number("adam_eps", self.adam_eps, low=0, low_open=True)
        number("grad_clip", self.grad_clip, low=0, low_open=True, optional=True)
        integer("image_size", self.image_size, low=1, optional=True)
        integer("num_workers", self.num_workers, low=0)
        integer("seed", self.seed, low=0)
        if self.final_model == "best_val" and self.val_fraction == 0:
            raise RftError("final_model 'best_val' needs a validation hold-out: val_fraction > 0")
        # What the values point at: the weights file's format, the device name, the model name (a
        # snapshot of timm's registry), the tracking store; last, the one check that needs torch and
        # timm: whether the model's family takes the strategy.
        preflight.check_weights(self.weights, self.pretrained)
        preflight.check_device(self.device)
        if here:
            from rftlib.core.devices import check_gpu_driver

            check_gpu_driver(self.device)
        if self.tracking is not None:
            from rftlib.runs.tracking_options import tracking_options

            tracking_options(self.tracking)  # unknown backend or key, malformed URI, a name MLflow refuses
        from rftlib.data.classes import known_num_classes

        preflight.check_model(self.model, self.model_kwargs, self.strategy, self.strategy_options,
                              known_num_classes(self.dataset, self.dataset_options), self.pretrained, self.weights)
        return self

    def _check_remedies(self, objective_options) -> None:
        from rftlib.remedies.wise_lp_options import lp_ft_options, wise_ft_options

        wise_ft_options(self.wise_ft, self.model, self.objective)
        lp_ft = lp_ft_options(self.lp_ft, self.strategy)
        if lp_ft is not None:  # the probe objective: the run objective's checks
            try:
                objective_options(lp_ft["objective"], **lp_ft["objective_options"])
            except RftError as error:
                raise RftError(f"lp_ft: {error}") from None

    def check_attacks(self, num_classes: int | None = None) -> None:
        """The attacks (and final AutoAttack) against the dataset's class count: ``num_classes``, or
        where the dataset's options fix it; a local copy's count is checked once loaded, before the
        run directory is written (``rftlib.runs.preflight.check_task``)."""
        from rftlib.attacks.end_of_run import check_final_autoattack
        from rftlib.attacks.settings import check_attack_spec
        from rftlib.data.classes import known_num_classes

        if num_classes is None:
            num_classes = known_num_classes(self.dataset, self.dataset_options)
        check_final_autoattack(self.final_autoattack, num_classes)
        from rftlib.attacks.threat_config import check_entry_norms, check_final_autoattack_norm, check_objective_norm

        check_entry_norms(self.attacks, self.attack)
        check_objective_norm(self.objective, self.objective_options, self.attack)
        check_final_autoattack_norm(self.final_autoattack, self.attack)
        if self.attacks is None:
            return
        if not self.attacks:
            raise RftError("attacks must list at least one attack (or be left out for the paper's PGD)")
        for spec in self.attacks:
            check_attack_spec(spec, "attacks entry", num_classes=num_classes)
        labels = [spec.get("label", spec["name"]) for spec in self.attacks]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise RftError(f"attacks entries need distinct labels; repeated: {', '.join(repeated)} "
                           f"(add label: <name> to tell them apart)")

    def attack_specs(self) -> list[dict[str, Any]]:
        """The evaluation attacks as ``{name, label, **options}``, pgd entries completed with ``attack``'s
        settings (the paper's where not overridden). Every other attack that has an eps takes
        ``attack``'s eps unless its entry sets one, so attacks are compared within one threat model."""
        from rftlib.attacks.settings import accepts_option

        pgd_defaults = {**PAPER_ATTACK, **self.attack}
        if self.attacks is None:
            return [_pgd_step_for_norm({"name": "pgd", "label": "pgd", **pgd_defaults}, self.attack)]
        specs = []
        for spec in self.attacks:
            if spec["name"] == "pgd":
                defaults = pgd_defaults
            else:
                defaults = {"eps": pgd_defaults["eps"]} if accepts_option(spec["name"], "eps") else {}
                if "norm" in self.attack and accepts_option(spec["name"], "norm"):
                    defaults["norm"] = self.attack["norm"]
            own = {k: v for k, v in spec.items() if k not in ("name", "label")}
            resolved = {"name": spec["name"], "label": spec.get("label", spec["name"]), **defaults, **own}
            specs.append(_pgd_step_for_norm(resolved, {**self.attack, **own}) if spec["name"] == "pgd" else resolved)
        return specs

    def resolved(self) -> "RunConfig":
        """A copy with every 'None = default' filled in: the strategy's lr, weight decay, warm-up and
        schedule, the PGD settings and the training attack's. Its values are what the run uses and
        what gets recorded."""
        from rftlib.runs.objective_options import objective_options
        from rftlib.strategies.config import training_defaults

        defaults = training_defaults(self.strategy)
        changes: dict[str, Any] = {}
        for name in ("lr", "weight_decay", "warmup_steps"):
            if getattr(self, name) is None:
                changes[name] = defaults[name]
        if self.lr_schedule == "auto":
            changes["lr_schedule"] = defaults["lr_schedule"]
        changes["attack"] = _without_default_norm(_pgd_step_for_norm({**PAPER_ATTACK, **self.attack}, self.attack))
        if self.attacks is not None:
            changes["attacks"] = [_without_default_norm(spec) for spec in self.attacks]
        changes["objective_options"] = objective_options(self.objective, eval_eps=changes["attack"]["eps"],
                                                         **self.objective_options)
        if self.lp_ft is not None or self.wise_ft is not None:
            from rftlib.remedies.wise_lp_options import lp_ft_options, wise_ft_options

            changes["wise_ft"] = wise_ft_options(self.wise_ft, self.model, self.objective)
            lp_ft = lp_ft_options(self.lp_ft, self.strategy)
            if lp_ft is not None:
                lp_ft["objective_options"] = objective_options(lp_ft["objective"], eval_eps=changes["attack"]["eps"],
                                                               **lp_ft["objective_options"])
            changes["lp_ft"] = lp_ft
        return dataclasses.replace(self, **changes)

    def run_name(self) -> str:
        """A readable, unique directory name: ``<dataset>[-<domain>]_<strategy>_s<seed>_<hash>``,
        the hash over every identity field of the resolved configuration."""
        identity = self.identity(self.resolved().to_dict())
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
        domain = f"-{self.domain}" if self.domain else ""
        return f"{self.dataset}{domain}_{self.strategy}_s{self.seed}_{digest}"


def _without_default_norm(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` without ``norm: Linf``: an option at its default stays out of the run's identity, so
    writing it out keeps the run name of leaving it out."""
    return {k: v for k, v in spec.items() if not (k == "norm" and v == "Linf")}


def _pgd_step_for_norm(spec: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """PGD's step outside L-infinity: eps / 4 (the paper's ratio) unless ``given`` sets alpha; the
    paper's absolute 0.25/255 is an L-infinity step, meaningless for an L2 radius."""
    if spec.get("norm", "Linf") != "Linf" and "alpha" not in given:
        return {**spec, "alpha": spec["eps"] / 4}
    return spec


def apply_overrides(values: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Apply ``key=value`` strings (values parsed as YAML; dotted keys reach into mappings, e.g.
    ``attack.steps=5``) or a dict of the same to a copy of ``values``."""
    values = json.loads(json.dumps(values, default=list))  # deep copy of plain data
    items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
    for key, value in items:
        target = values
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise RftError(f"override {key!r}: {parent!r} is not a mapping")
        target[leaf] = value
    return values


def _split_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise RftError(f"an override is key=value, got {text!r}")
    return key.strip(), parse_yaml(raw, f"override {text!r}")


def dump_yaml(values: dict[str, Any]) -> str:
    return yaml.safe_dump(values, sort_keys=False, default_flow_style=None)


__all__ = ["RunConfig", "apply_overrides", "PAPER_ATTACK", "PAPER_MODEL"]
