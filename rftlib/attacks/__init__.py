"""Adversarial attacks used to measure robustness, looked up by name.

``make_attack("pgd", model, eps=8/255)`` builds one from the registry; unknown names and options fail
with an RftError listing the valid ones. :func:`check_attack_spec` checks a configuration entry
``{name, label?, **options}`` without a model, and without torch (each attack's settings and their
checks are in :mod:`rftlib.attacks.settings`, which the classes build from), so a run configuration is
refused before any data or model loads. The classes and :func:`make_attack` load on first use.

==========  ==============================================================  ===================
name        attack                                                          class
==========  ==============================================================  ===================
pgd         PGD-k, cross-entropy (Madry et al. 2018; the paper's measure)   :class:`PGD`
apgd        Auto-PGD, loss "ce" or "dlr" (Croce & Hein 2020)                :class:`APGD`
apgd_t      targeted Auto-PGD over the top-k other classes                  :class:`APGDT`
apgd_ce_t   APGD-CE, then APGD-T on the points left: fast, *not* AutoAttack  :class:`APGDCEAndT`
autoattack  standard AutoAttack through the authors' code (pyautoattack)     :class:`AutoAttack`
==========  ==============================================================  ===================

Also here: the threat models of a run (``threat_config``), the end-of-run AutoAttack's settings
(``end_of_run``) and robustness curves over radii (``robustness_curve``).

May use: core, stats, models.
"""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports
from rftlib.attacks.settings import ATTACK_SETTINGS, accepts_option, attack_options, check_attack_spec

# Loaded on first use: they import torch.
_CLASSES = {"PGD": "pgd", "APGD": "apgd", "APGDT": "apgd", "APGDCEAndT": "apgd_ce_t", "AutoAttack": "autoattack",
            "AttackOutcome": "base", "frozen_eval": "base", "ATTACKS": "classes", "make_attack": "classes"}

__all__ = ["APGD", "APGDCEAndT", "APGDT", "ATTACKS", "ATTACK_SETTINGS", "AttackOutcome", "AutoAttack", "PGD",
           "accepts_option", "attack_options", "check_attack_spec", "frozen_eval", "make_attack"]

__getattr__, __dir__ = lazy_exports(__name__, _CLASSES)
