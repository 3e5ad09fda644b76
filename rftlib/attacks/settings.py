"""Each attack's settings, their defaults and their checks, without torch.

One dataclass per registered attack holds the options a configuration may set (defaults: the study's
or the paper's); building it checks every value (one RftError line each). The attack classes build
their settings from these dataclasses (:func:`adopt`), so a run configuration is checked by exactly
the code that checks an attack built in Python, before torch loads (``check_attack_spec``).
Only ``autocast_dtype``, a torch dtype that no configuration sets, is checked by the classes.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from rftlib.core.errors import RftError
from rftlib.core.options import check_keys
from rftlib.core.registry import Registry
from rftlib.core.validation import integer_hint
from rftlib.attacks.norms import DEFAULT_NORM, NORMS, check_norm, check_radius

#: The norms PGD is defined for here (an L1 PGD needs the sparse step of APGD-L1: use ``apgd``).
PGD_NORMS = ("Linf", "L2")
#: APGD's losses.
LOSSES = ("ce", "dlr")
# Classes the losses read: DLR uses the 3 largest logits, targeted DLR the 4 largest.
_MIN_CLASSES = {("ce", False): 2, ("dlr", False): 3, ("ce", True): 2, ("dlr", True): 4}

INSTALL = "pip install 'rftlib[autoattack]' (the authors' code, packaged as pyautoattack)"
STANDARD_STEPS = 100
STANDARD_SQUARE_QUERIES = 5000
STANDARD_TARGETS = 9
#: APGD-T's standard target count for L1 (FAB-T keeps 9), and APGD-CE's restarts there.
STANDARD_TARGETS_L1 = 5
STANDARD_RESTARTS_L1 = 5


def positive_number(value: object, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RftError(f"{who} {name} must be a finite number, got {value!r}")
    if value <= 0:
        raise RftError(f"{who} {name} must be > 0, got {value!r}")
    return float(value)


def check_count(value: object, name: str, who: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RftError(f"{who} {name} must be an integer >= {minimum}, got {value!r}{integer_hint(value)}")
    return value


def require_pyautoattack() -> None:
    """RftError with the install command when the authors' package is missing (found, not imported)."""
    if importlib.util.find_spec("pyautoattack") is None:
        raise RftError(f"AutoAttack needs the authors' package, which is not installed: {INSTALL}")


@dataclass
class PGDSettings:
    """PGD's settings (:class:`rftlib.attacks.PGD`, Madry et al. 2018): the study's eps 1/255, step
    0.25/255, 15 steps, random start; ``early_stop`` and ``norm`` ("Linf" or "L2") as documented there."""

    eps: float = 1 / 255
    alpha: float = 0.25 / 255
    steps: int = 15
    random_start: bool = True
    early_stop: bool = False
    norm: str = DEFAULT_NORM

    who: ClassVar[str] = "PGD"
    autocast: ClassVar[bool] = True  # the class also takes autocast_dtype

    def __post_init__(self):
        self.norm = check_norm(self.norm, self.who, PGD_NORMS)
        self.eps = check_radius(self.eps, self.norm, self.who)
        self.alpha = positive_number(self.alpha, "alpha", self.who)
        self.steps = check_count(self.steps, "steps", self.who)
        for name in ("random_start", "early_stop"):
            if not isinstance(getattr(self, name), bool):
                raise RftError(f"{self.who} {name} must be true or false, got {getattr(self, name)!r}")


@dataclass
class APGDSettings:
    """Auto-PGD's settings (:class:`rftlib.attacks.APGD`, Croce & Hein 2020): eps, the paper's 100
    steps, loss "ce" or "dlr", restarts, the checkpoints' threshold rho in (0, 1), norm Linf/L2/L1."""

    eps: float = 1 / 255
    steps: int = 100
    loss: str = "ce"
    restarts: int = 1
    rho: float = 0.75
    norm: str = DEFAULT_NORM

    who: ClassVar[str] = "APGD"
    targeted: ClassVar[bool] = False
    autocast: ClassVar[bool] = True

    def __post_init__(self):
        self.norm = check_norm(self.norm, self.who, NORMS)
        self.eps = check_radius(self.eps, self.norm, self.who)
        self.steps = check_count(self.steps, "steps", self.who)
        if self.loss not in LOSSES:
            raise RftError(f"{self.who} loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        self.restarts = check_count(self.restarts, "restarts", self.who)
        rho = self.rho
        self.rho = positive_number(rho, "rho", self.who)
        if self.rho >= 1:
            raise RftError(f"{self.who} rho must be in (0, 1), got {rho!r}")

    def check_classes(self, num_classes: int) -> None:
        """RftError if the loss cannot be used with ``num_classes`` classes."""
        needed = _MIN_CLASSES[(self.loss, self.targeted)]
        if num_classes < needed:
            raise RftError(f"{self.who} with the {self.loss} loss needs at least {needed} classes, "
                           f"the model has {num_classes}")


@dataclass
class APGDTSettings(APGDSettings):
    """Targeted Auto-PGD (:class:`rftlib.attacks.APGDT`): APGD's settings, the targeted DLR loss by
    default, and ``targets`` (None: min(9, classes - 1))."""

    loss: str = "dlr"
    targets: int | None = None

    who: ClassVar[str] = "APGD-T"
    targeted: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        self.targets = None if self.targets is None else check_count(self.targets, "targets", self.who)

    def check_classes(self, num_classes: int) -> None:
        super().check_classes(num_classes)
        if self.targets is not None and self.targets > num_classes - 1:
            raise RftError(f"{self.who} targets must be at most classes - 1 = {num_classes - 1}, got {self.targets}")


@dataclass
class APGDCEAndTSettings:
    """APGD-CE then APGD-T (:class:`rftlib.attacks.APGDCEAndT`): the settings both share, APGD-T's 3
    targets by default; each part's own settings are checked as that attack checks them."""

    eps: float = 1 / 255
    steps: int = 100
    targets: int = 3
    restarts: int = 1
    norm: str = DEFAULT_NORM

    who: ClassVar[str] = "APGD-CE+T"
    autocast: ClassVar[bool] = True

    def __post_init__(self):
        common = dict(eps=self.eps, steps=self.steps, restarts=self.restarts, norm=self.norm)
        self.parts = (APGDSettings(loss="ce", **common), APGDTSettings(targets=self.targets, loss="dlr", **common))

    def check_classes(self, num_classes: int) -> None:
        for part in self.parts:
            part.check_classes(num_classes)


@dataclass
class AutoAttackSettings:
    """Standard AutoAttack's settings (:class:`rftlib.attacks.AutoAttack`, Croce & Hein 2020): eps,
    targets (None: the standard count), APGD's and FAB's steps and Square's queries (the standard 100
    and 5000 unless a cheaper, non-standard run is wanted), norm Linf/L2/L1."""

    eps: float = 1 / 255
    targets: int | None = None
    steps: int = STANDARD_STEPS
    square_queries: int = STANDARD_SQUARE_QUERIES
    norm: str = DEFAULT_NORM

    who: ClassVar[str] = "AutoAttack"
    autocast: ClassVar[bool] = False  # always float32: the authors' code

    def __post_init__(self):
        self.norm = check_norm(self.norm, self.who, NORMS)
        self.eps = check_radius(self.eps, self.norm, self.who)
        self.targets = None if self.targets is None else check_count(self.targets, "targets", self.who)
        self.steps = check_count(self.steps, "steps", self.who)
        self.square_queries = check_count(self.square_queries, "square_queries", self.who)
        require_pyautoattack()

    def check_classes(self, num_classes: int) -> None:
        # APGD-T's targeted DLR loss reads the 4 largest logits.
        if num_classes < 4:
            raise RftError(f"AutoAttack needs at least 4 classes (targeted DLR loss), the model has {num_classes}")
        if self.targets is not None and self.targets > num_classes - 1:
            raise RftError(f"AutoAttack targets must be at most classes - 1 = {num_classes - 1}, got {self.targets}")


#: Registered attack names -> their settings; the classes are in :data:`rftlib.attacks.ATTACKS`.
ATTACK_SETTINGS: Registry[type] = Registry("attack")
ATTACK_SETTINGS.add("pgd", PGDSettings)
ATTACK_SETTINGS.add("apgd", APGDSettings)
ATTACK_SETTINGS.add("apgd_t", APGDTSettings)
ATTACK_SETTINGS.add("apgd_ce_t", APGDCEAndTSettings)
ATTACK_SETTINGS.add("autoattack", AutoAttackSettings)


def attack_options(name: str) -> list[str]:
    """The options the attack registered as ``name`` takes (its constructor's arguments but the model)."""
    settings = ATTACK_SETTINGS.get(name)
    return [f.name for f in dataclasses.fields(settings)] + (["autocast_dtype"] if settings.autocast else [])


def accepts_option(name: str, option: str) -> bool:
    return option in attack_options(name)


def attack_settings(name: str, **options: Any):
    """The checked settings of attack ``name`` with ``options`` (those a configuration may set)."""
    check_keys(options, [o for o in attack_options(name) if o != "autocast_dtype"], f"{name} option")
    return ATTACK_SETTINGS.get(name)(**options)


def adopt(attack: object, settings: object) -> None:
    """Give ``attack`` its checked settings as attributes (``attack.eps``, ``attack.steps``, ...)."""
    for item in dataclasses.fields(settings):
        setattr(attack, item.name, getattr(settings, item.name))


def check_attack_spec(spec: Any, where: str = "attack", num_classes: int | None = None) -> None:
    """Check an attack entry of a run configuration, ``{name, label?, **options}``, without a model:
    the name is registered, the options are the attack's own with values in range, an optional
    package it needs is installed (else the install command), the label is a plain identifier and,
    when ``num_classes`` is given, the classes allow the settings (at most classes - 1 targets, enough
    classes for the DLR losses). Raises a one-line RftError naming the valid choices."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise RftError(f"each {where} is a mapping with a 'name' (one of {', '.join(ATTACK_SETTINGS.names())}), "
                       f"got {spec!r}")
    name = spec["name"]
    ATTACK_SETTINGS.get(name)
    options = {k: v for k, v in spec.items() if k not in ("name", "label")}
    check_keys(options, [o for o in attack_options(name) if o != "autocast_dtype"], f"{name} option")
    label = spec.get("label", name)
    if not isinstance(label, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", label):
        raise RftError(f"{where} label must be lower-case letters, digits and '_' (a record column suffix), "
                       f"got {label!r}")
    settings = ATTACK_SETTINGS.get(name)(**options)
    if num_classes is not None and hasattr(settings, "check_classes"):
        settings.check_classes(num_classes)


__all__ = ["APGDCEAndTSettings", "APGDSettings", "APGDTSettings", "ATTACK_SETTINGS", "AutoAttackSettings", "INSTALL",
           "LOSSES", "PGDSettings", "PGD_NORMS", "STANDARD_TARGETS_L1", "accepts_option", "adopt", "attack_options",
           "attack_settings", "check_attack_spec", "require_pyautoattack"]
