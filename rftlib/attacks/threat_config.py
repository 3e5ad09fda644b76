"""Checks of a run's threat-model settings: the norms and radii of its attacks, and ``robustness_curve``.

Called lazily from ``RunConfig.validated()``, before anything loads; imports no training, sweep or results code.
Radii are checked against the largest meaningful radius of their norm (``rftlib.attacks.norms``)
where the input size is known from the configuration (``image_size``, ``model_kwargs.img_size`` or
the timm model's default configuration); otherwise the attack checks it on the first batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rftlib.attacks.norms import DEFAULT_NORM, NORMS, check_norm, check_radius, image_dimension
from rftlib.core.errors import RftError, unknown_choice
from rftlib.core.options import build_dataclass

#: When a curve is measured: at the last evaluation of the run, or at every one.
CURVE_WHEN = ("end", "every")
#: Attacks a curve can use (each takes eps and norm).
CURVE_ATTACKS = ("pgd", "apgd", "apgd_t", "apgd_ce_t")
#: PGD's step inside a curve: this share of each radius (the paper's 0.25/255 at 1/255).
PGD_STEP_SHARE = 0.25


@dataclass(frozen=True)
class CurveOptions:
    """A robustness curve (Göpfert, Göpfert and Hammer, "Adversarial robustness curves", 2020): robust
    accuracy of the evaluation points at each radius of ``radii``.

    Attributes:
        radii: increasing radii in the norm's own units (L-infinity: pixel units, 1/255 = one grey level).
        norm: "Linf" (default), "L2" or "L1".
        attack: ``{name: pgd | apgd | apgd_t | apgd_ce_t, **options}`` without eps (each radius sets it)
            and, for PGD, without alpha (the step is radius / 4, the paper's ratio). Default ``{name: pgd}``
            with the run's PGD steps and random start.
        when: "end" (the run's last evaluation; the default, cheap) or "every" evaluation.
    """

    radii: list[float] = field(default_factory=list)
    norm: str = DEFAULT_NORM
    attack: dict = field(default_factory=lambda: {"name": "pgd"})
    when: str = "end"


def curve_options(values: dict | None, dimension: int | None = None) -> CurveOptions:
    """The curve options from a mapping, checked (one RftError line each): unknown keys, an unknown norm
    or one the attack does not define, an empty or unsorted radius list, a radius <= 0 or above the norm's
    largest meaningful one (for ``dimension`` input values, when known), an attack option the attack
    lacks or one the curve sets itself."""
    if not isinstance(values, dict):
        raise RftError(f"robustness_curve must be a mapping like {{radii: [0.25, 0.5, 1.0], norm: L2}}, got {values!r}")
    options = build_dataclass(CurveOptions, values, "robustness_curve option")
    if options.norm not in NORMS:
        raise unknown_choice("robustness_curve norm", options.norm, NORMS)
    if options.when not in CURVE_WHEN:
        raise unknown_choice("robustness_curve when", options.when, CURVE_WHEN)
    if not options.radii:
        raise RftError("robustness_curve radii must list at least one radius, e.g. [0.25, 0.5, 1.0]")
    for radius in options.radii:
        check_radius(radius, options.norm, "robustness_curve", dimension, name="radius")
    if any(b <= a for a, b in zip(options.radii, options.radii[1:])):
        raise RftError(f"robustness_curve radii must be strictly increasing, got {options.radii!r}")
    spec = options.attack
    if not isinstance(spec, dict) or spec.get("name") not in CURVE_ATTACKS:
        raise RftError(f"robustness_curve attack must be a mapping with a name, one of {', '.join(CURVE_ATTACKS)}, "
                       f"got {spec!r}")
    for own in ("eps", "norm", "label", "alpha"):
        if own in spec:
            raise RftError(f"robustness_curve attack option {own!r} is set by the curve (eps: each radius, norm: "
                           f"the curve's, PGD's alpha: radius / 4), leave it out")
    from rftlib.attacks import check_attack_spec  # the attack's own options and their values

    check_attack_spec({**spec, "norm": options.norm, "eps": options.radii[0]}, "robustness_curve attack")
    return options


def curve_attack_options(options: CurveOptions, radius: float, run_attack: dict) -> dict[str, Any]:
    """The options of the curve's attack at ``radius``: the attack's own, PGD's defaulting to the run's
    PGD settings (``run_attack``: steps, random_start) with step radius / 4."""
    spec = {k: v for k, v in options.attack.items() if k != "name"}
    if options.attack["name"] == "pgd":
        defaults = {k: run_attack[k] for k in ("steps", "random_start") if k in run_attack}
        spec = {**defaults, **spec, "alpha": PGD_STEP_SHARE * radius}
    return {**spec, "eps": radius, "norm": options.norm}


def input_dimension(image_size: int | None, model: str, model_kwargs: dict) -> int | None:
    """C·H·W of the run's inputs when the configuration tells the size (3 channels), else None."""
    size = image_size or model_kwargs.get("img_size")
    if size is None:
        from rftlib.models.names import default_input_size

        size = default_input_size(model)  # None (no default configuration): checked on the first batch
    return image_dimension(int(size)) if isinstance(size, int) else None


def check_attack_radii(specs: list[dict], attack: dict, dimension: int | None) -> None:
    """The norm and radius of every evaluation attack: ``attack``'s norm is one of NORMS, and an entry
    whose norm is not the run's needs its own eps (a radius in one norm means nothing in another)."""
    if "norm" in attack:
        check_norm(attack["norm"], "attack")
    for spec in specs:
        if "norm" in spec and "eps" in spec:
            check_radius(spec["eps"], spec["norm"], f"attacks entry {spec.get('label', spec['name'])!r}", dimension)


def check_entry_norms(entries: list[dict] | None, attack: dict) -> None:
    """An ``attacks`` entry with another norm than ``attack``'s must set its eps (one RftError line)."""
    run_norm = attack.get("norm", DEFAULT_NORM)
    for entry in entries or []:
        norm = entry.get("norm", run_norm)
        if norm != run_norm and "eps" not in entry:
            raise RftError(f"attacks entry {entry.get('label', entry.get('name'))!r} has norm {norm} but attack's eps "
                           f"is a {run_norm} radius: give the entry its own eps, in {norm} units")


def check_final_autoattack_norm(final_autoattack: dict | None, attack: dict) -> None:
    """End-of-run AutoAttack in another norm than the run's PGD cannot borrow PGD's eps."""
    if not isinstance(final_autoattack, dict):
        return
    norm, run_norm = final_autoattack.get("norm", DEFAULT_NORM), attack.get("norm", DEFAULT_NORM)
    if norm != run_norm and "eps" not in final_autoattack:
        raise RftError(f"final_autoattack has norm {norm} but the PGD eps it defaults to is a {run_norm} radius: "
                       f"give final_autoattack its own eps, in {norm} units")


def check_objective_norm(objective: str, objective_options: dict, attack: dict) -> None:
    """The training attack (pgd_at, trades) is L-infinity: it cannot inherit an eps of another norm."""
    norm = attack.get("norm", DEFAULT_NORM)
    if objective != "standard" and norm != "Linf" and "eps" not in objective_options:
        raise RftError(f"objective {objective!r} trains against an Linf attack but attack's eps is an {norm} radius: "
                       f"set objective_options.eps (Linf, pixel units)")


__all__ = ["check_final_autoattack_norm", "check_objective_norm", "CURVE_ATTACKS", "CURVE_WHEN", "CurveOptions", "PGD_STEP_SHARE", "check_attack_radii", "check_entry_norms",
           "curve_attack_options", "curve_options", "input_dimension"]
