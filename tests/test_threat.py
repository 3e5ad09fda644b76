"""Threat models beyond L-infinity at one radius: BatchNorm statistics left alone by the new attacks,
robustness curves (monotone, equal to per-radius attacks, their area), AutoAttack's L2/L1 standard
versions, severity and robustness curves across a resume, and one-line errors for bad settings."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from attack_helpers import trained_digits_vit
from rftlib import RunConfig, finetune
from rftlib.attacks import APGD, APGDT, PGD, APGDCEAndT, AutoAttack
from rftlib.core.errors import RftError
from rftlib.attacks.robustness_curve import curve_summary, per_radius_flags, point_areas, survivor_flags
from training_helpers import die_after_steps, tiny_config, without_timing

pytestmark = pytest.mark.xdist_group("trained-digits-vit")


@pytest.fixture(scope="module")
def trained():
    return trained_digits_vit(test_size=96)


# --- the model as found, BatchNorm included ----------------------------------------------------------


def _batchnorm_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10))


NEW_ATTACKS = {
    "pgd-l2": lambda m: PGD(m, eps=0.5, alpha=0.2, steps=3, norm="L2"),
    "apgd-l2": lambda m: APGD(m, eps=0.5, steps=4, norm="L2"),
    "apgd-l1": lambda m: APGD(m, eps=2.0, steps=4, norm="L1"),
    "apgd-t-l1": lambda m: APGDT(m, eps=2.0, steps=4, targets=2, norm="L1"),
    "apgd_ce_t-l2": lambda m: APGDCEAndT(m, eps=0.5, steps=4, targets=2, norm="L2"),
    "autoattack-l2": lambda m: AutoAttack(m, eps=0.5, steps=2, square_queries=5, targets=2, norm="L2"),
    "autoattack-l1": lambda m: AutoAttack(m, eps=2.0, steps=3, square_queries=5, targets=2, norm="L1"),
}


@pytest.mark.parametrize("name", list(NEW_ATTACKS))
def test_new_attacks_leave_batchnorm_statistics_mode_and_flags_alone(name):
    model = _batchnorm_net().train()
    model[4].weight.requires_grad_(False)
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(6)
    before = copy.deepcopy(model.state_dict())
    modes = {n: m.training for n, m in model.named_modules()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    attack = NEW_ATTACKS[name](model)
    adversarial = attack(images, labels, generator=torch.Generator().manual_seed(2))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running mean/var and batch count too
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    assert adversarial.shape == images.shape and adversarial.min() >= 0 and adversarial.max() <= 1


# --- robustness curves -------------------------------------------------------------------------------


def test_point_areas_known_answer():
    # Radii 1, 2, 4: a point robust up to 2 then broken has area (1 + 1 + (1 + 1) / 2 * ... ) computed
    # by hand: trapezoids over [0,1], [1,2], [2,4] of (1,1), (1,1), (1,0) = 1 + 1 + 1 = 3, / 4.
    clean = np.array([True, True, False])
    flags = np.array([[True, True, False], [True, False, False], [False, False, False]])
    assert np.allclose(point_areas(clean, flags, [1, 2, 4]), [3 / 4, 1.5 / 4, 0])
    outcomes = {"clean": clean, **{f"curve_{k}": row for k, row in enumerate(flags)}}
    summary = curve_summary(outcomes, [1, 2, 4], "L2", step=5)
    assert summary["auc"] == pytest.approx(4.5 / 12) and summary["auc_low"] < summary["auc"] < summary["auc_high"]
    assert summary["acc"] == [2 / 3, 1 / 3, 0] and all(a <= b for a, b in zip(summary["acc_low"], summary["acc"]))


@pytest.mark.parametrize("norm, radii, make", [
    ("L2", [0.05, 0.1, 0.2, 0.4], lambda m, r: PGD(m, eps=r, alpha=r / 4, steps=8, norm="L2")),
    ("L1", [0.25, 0.5, 1.0], lambda m, r: APGD(m, eps=r, steps=20, norm="L1")),
])
def test_survivor_curve_is_monotone_and_equals_the_per_radius_attacks(trained, norm, radii, make):
    model, images, labels = trained
    with torch.no_grad():
        correct = model(images).argmax(1) == labels
    images, labels = images[correct], labels[correct]  # 70 points
    attacks = [make(model, r) for r in radii]
    generators = lambda: [torch.Generator().manual_seed(10 + k) for k in range(len(radii))]  # noqa: E731
    survivors = survivor_flags(model, images, labels, attacks, generators())
    naive = per_radius_flags(model, images, labels, attacks, generators())
    rates = survivors.float().mean(1)
    assert (survivors[1:] <= survivors[:-1]).all()  # monotone per point, hence in accuracy
    assert 0.1 < rates[-1] < rates[0] < 0.98  # the curve actually falls over these radii
    # The same points and attacks; they differ only as the attack differs from itself between random
    # starts (a point's start depends on which points share its batch). Seen in development, seeds 0-2:
    # at most 3 of 70 points differ at a radius (two seeds of the per-radius attack: up to 4), and the
    # robust counts by at most 2. Margins: 94% agreement, 3 points.
    agreement = (survivors == naive).float().mean(1)
    assert (agreement >= 0.94).all(), agreement
    assert (survivors.sum(1) - naive.sum(1)).abs().max() <= 3


def test_autoattack_norms_follow_the_authors_standard_versions():
    model = nn.Identity()
    assert AutoAttack(model, norm="L1").target_count(10) == 5 and AutoAttack(model, norm="L2").target_count(10) == 9
    assert AutoAttack(model, eps=0.5, norm="L2").is_standard and not AutoAttack(model, norm="L1", targets=9).is_standard


@pytest.mark.slow
@pytest.mark.parametrize("norm, eps", [("L2", 1.5), ("L1", 8.0)])
def test_autoattack_flags_are_the_authors_standard_version(trained, norm, eps):
    # Radii where APGD-CE breaks every point, so the standard version (FAB-T, Square with 5000 queries
    # for whatever survives) stays CPU-sized.
    from pyautoattack import AutoAttack as Reference

    model, images, labels = trained
    images, labels = images[:8], labels[:8]
    outcome = AutoAttack(model, eps=eps, norm=norm).run(images, labels, generator=torch.Generator().manual_seed(4))
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(4)))
    with torch.random.fork_rng():
        _, predicted = Reference(model.eval(), eps=eps, norm=norm, seed=seed, device="cpu",
                                 version="standard").run_standard_evaluation(images, labels, batch_size=8)
    assert torch.equal(outcome.robust, predicted == labels)
    delta = (outcome.adversarial - images).flatten(1)
    size = delta.norm(dim=1) if norm == "L2" else delta.abs().sum(1)
    assert size.max() <= eps * (1 + 1e-3)


# --- in a run: curves and severity curves, exact across a resume ----------------------------------


def threat_run(**overrides):
    return tiny_config(model_kwargs={"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
                       max_steps=8, schedule=[[None, 4]],
                       corruptions={"names": ["contrast", "gaussian_noise"], "severities": [1, 5], "size": 12},
                       robustness_curve={"radii": [0.1, 0.3, 1.0], "norm": "L2", "when": "every",
                                         "attack": {"name": "apgd", "steps": 3}},
                       **overrides)


@pytest.mark.slow
def test_severity_and_robustness_curves_are_identical_across_resume(tmp_path, monkeypatch):
    reference = finetune(threat_run(), run_dir=tmp_path / "reference", progress=False)
    records = reference.records
    severity = [f"corruption_{name}_s{s}_acc" for name in ("contrast", "gaussian_noise") for s in (1, 5)]
    assert set(severity + ["corruption_s1_acc", "corruption_s5_acc", "curve_0_acc", "curve_2_acc", "curve_auc"]) \
        <= set(records.columns)
    # The mean corruption accuracy is the mean over corruptions and severities.
    assert np.allclose(records["corruption_acc"], records[severity].mean(axis=1))
    assert (records["curve_0_acc"] >= records["curve_1_acc"]).all()
    assert (records["curve_1_acc"] >= records["curve_2_acc"]).all()
    curve = reference.summary["robustness_curve"]
    assert curve["norm"] == "L2" and curve["step"] == 8 and curve["auc_low"] <= curve["auc"] <= curve["auc_high"]

    die_after_steps(monkeypatch, 6)
    with pytest.raises(KeyboardInterrupt):
        finetune(threat_run(), run_dir=tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    resumed = finetune(threat_run(), run_dir=tmp_path / "resumed", progress=False)
    assert without_timing(resumed.records) == without_timing(reference.records)
    assert resumed.summary["robustness_curve"] == curve


@pytest.mark.slow
def test_curve_at_the_end_only_and_default_norms_keep_run_names(tmp_path):
    config = tiny_config(robustness_curve={"radii": [2 / 255, 8 / 255]}, max_steps=4, schedule=[[None, 2]])
    result = finetune(config, run_dir=tmp_path / "run", progress=False)
    assert result.records["curve_auc"].notna().tolist() == [False, False, True]  # steps 0, 2 and the end
    plain = RunConfig.from_dict(tiny_config()).run_name()
    assert RunConfig.from_dict(tiny_config(attack={**tiny_config()["attack"], "norm": "Linf"})).run_name() == plain
    listed = RunConfig.from_dict(tiny_config(attacks=[{"name": "apgd"}])).run_name()
    assert RunConfig.from_dict(tiny_config(attacks=[{"name": "apgd", "norm": "Linf"}])).run_name() == listed
    l2 = RunConfig.from_dict(tiny_config(attack={"eps": 0.5, "norm": "L2"}))
    assert l2.run_name() != plain and l2.resolved().attack["alpha"] == 0.125  # eps / 4 in L2
    assert [s.get("norm") for s in RunConfig.from_dict(tiny_config(attack={"eps": 0.5, "norm": "L2"}, attacks=[
        {"name": "pgd"}, {"name": "apgd"}])).attack_specs()] == ["L2", "L2"]


# --- bad input: one line, exit 2, before anything loads ----------------------------------------------


BAD = [
    ({"attack": {"norm": "L3"}}, "attack norm must be one of Linf, L2, L1, got 'L3'"),
    ({"attack": {"norm": "L1", "eps": 1.0}}, "PGD is not defined for the L1 norm; it defines Linf, L2"),
    ({"attacks": [{"name": "apgd", "norm": "L2", "eps": 0}]}, "eps must be > 0"),
    ({"attack": {"norm": "L2", "eps": 30.0}}, "eps must be at most sqrt(d) = 27.7128 for L2 on [0, 1] images of d = 768"),
    ({"attacks": [{"name": "apgd", "norm": "L1", "eps": 800}]}, "eps must be at most d = 768 for L1"),
    ({"attacks": [{"name": "apgd", "eps": 2.0}]}, "eps must be at most 1 (pixel space"),
    ({"attacks": [{"name": "apgd", "norm": "L2"}]}, "has norm L2 but attack's eps is a Linf radius"),
    ({"robustness_curve": {"radii": []}}, "robustness_curve radii must list at least one radius"),
    ({"robustness_curve": {"radii": [0.2, 0.1], "norm": "L2"}}, "radii must be strictly increasing"),
    ({"robustness_curve": {"radii": [-0.1, 0.1], "norm": "L2"}}, "robustness_curve radius must be > 0"),
    ({"robustness_curve": {"radii": [0.1, 40.0], "norm": "L2"}}, "robustness_curve radius must be at most sqrt(d)"),
    ({"robustness_curve": {"radii": [0.1], "norm": "Lp"}}, "unknown robustness_curve norm 'Lp'"),
    ({"robustness_curve": {"radii": [0.1], "norm": "L1"}}, "PGD is not defined for the L1 norm"),
    ({"robustness_curve": {"radii": [0.1], "attack": {"name": "apgd", "eps": 0.1}}}, "'eps' is set by the curve"),
    ({"robustness_curve": {"radii": [0.1], "when": "often"}}, "unknown robustness_curve when 'often'"),
    ({"corruptions": {"severities": [1, 6]}, "model_kwargs": {"img_size": 32}}, "severities are distinct integers from 1 to 5"),
    ({"objective": "trades", "attack": {"norm": "L2", "eps": 0.5}}, "set objective_options.eps"),
    ({"final_autoattack": {"size": 8, "norm": "L1"}}, "give final_autoattack its own eps, in L1 units"),
]


@pytest.mark.parametrize("values, message", BAD)
def test_bad_threat_settings_are_one_line_before_anything_loads(tmp_path, capsys, values, message):
    import yaml

    from rftlib.cli import main as rft

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_config(output_dir=str(tmp_path / "out"), **values)))
    assert rft(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_an_attack_refuses_a_radius_beyond_its_input():
    images, labels = torch.rand(2, 3, 4, 4), torch.zeros(2, dtype=torch.long)
    with pytest.raises(RftError, match=r"at most sqrt\(d\) = 6.9282 for L2"):
        PGD(nn.Flatten(), eps=7.0, norm="L2")(images, labels)
    with pytest.raises(RftError, match="at most d = 48 for L1"):
        APGD(nn.Flatten(), eps=50.0, norm="L1").run(images, labels)
