"""rftlib.attacks.AutoAttack: the authors' standard AutoAttack (pyautoattack) behind rftlib's contract."""
import copy
import importlib.util
import logging
import sys

import pytest
import torch
from pyautoattack import AutoAttack as Reference

from attack_helpers import trained_digits_vit
from rftlib.attacks import APGD, AutoAttack, make_attack, check_attack_spec
from rftlib.core.errors import RftError

pytestmark = pytest.mark.xdist_group("trained-digits-vit")

CHEAP = dict(steps=8, square_queries=50)  # not the standard version: for contract tests only


@pytest.fixture(scope="module")
def trained():
    return trained_digits_vit(test_size=48)


def _seed_drawn_from(generator_seed: int) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(generator_seed)))


@pytest.mark.slow
def test_flags_are_the_authors_standard_autoattack(trained):
    # eps 8/255 on 12 points: APGD-CE and APGD-T break every point, so the standard version (100
    # iterations, 5000 queries) stays CPU-sized; with 2 points left, FAB-T and Square took 30 s.
    # test_keeps_the_contract runs all four attacks in a cheap configuration.
    model, images, labels = trained
    images, labels = images[:12], labels[:12]
    eps = 8 / 255
    attack = AutoAttack(model, eps=eps)
    assert attack.is_standard
    outcome = attack.run(images, labels, generator=torch.Generator().manual_seed(4))
    with torch.random.fork_rng():
        _, predicted = Reference(model.eval(), eps=eps, seed=_seed_drawn_from(4), device="cpu",
                                 version="standard").run_standard_evaluation(images, labels, batch_size=12)
    assert torch.equal(outcome.robust, predicted == labels)
    with torch.no_grad():
        assert torch.equal(model(outcome.adversarial).argmax(1) == labels, outcome.robust)
    assert ((outcome.adversarial - images).abs() <= eps + 1e-6).all()
    assert outcome.adversarial.min() >= 0 and outcome.adversarial.max() <= 1


def test_keeps_the_contract(trained, caplog):
    caplog.set_level(logging.DEBUG, logger="auto-attack")
    model, images, labels = trained
    model = copy.deepcopy(model)
    images, labels = images[:16], labels[:16]
    model.train()
    model.backbone.blocks[0].eval()
    head = model.backbone.head.weight
    head.grad = torch.full_like(head, 2.0)
    modes = {n: m.training for n, m in model.named_modules()}
    state, tracer, precision = torch.get_rng_state(), sys.gettrace(), torch.get_float32_matmul_precision()
    attack = make_attack("autoattack", model, eps=4 / 255, **CHEAP)
    assert not attack.is_standard
    with torch.autocast("cpu", dtype=torch.bfloat16):  # an enclosing autocast does not reach the attack
        first = attack.run(images, labels, generator=torch.Generator().manual_seed(1))
    again = attack.run(images, labels, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first.robust, again.robust) and torch.equal(first.adversarial, again.adversarial)
    assert first.adversarial.dtype == torch.float32
    assert "robust accuracy after SQUARE" in caplog.text  # all four attacks ran
    assert torch.equal(torch.get_rng_state(), state)
    assert sys.gettrace() is tracer and torch.get_float32_matmul_precision() == precision
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(p.requires_grad for p in model.parameters())
    assert torch.equal(head.grad, torch.full_like(head, 2.0))
    assert all(p.grad is None for p in model.parameters() if p is not head)
    # At least as strong as its own first attack, APGD-CE with the same iterations.
    apgd = APGD(model, eps=4 / 255, steps=CHEAP["steps"]).run(images, labels, generator=torch.Generator())
    assert first.robust.sum() <= apgd.robust.sum()


def test_fewer_than_ten_classes_use_classes_minus_one_targets(trained):
    model, images, labels = trained
    four = torch.nn.Sequential(model, torch.nn.Linear(10, 4))
    torch.nn.init.eye_(four[1].weight)
    labels = labels[:8] % 4
    outcome = AutoAttack(four, eps=4 / 255, **CHEAP).run(images[:8], labels, generator=torch.Generator())
    assert outcome.robust.shape == (8,)
    assert AutoAttack(four).target_count(4) == 3 and AutoAttack(four).target_count(100) == 9
    with pytest.raises(RftError, match="at least 4 classes"):
        AutoAttack(torch.nn.Sequential(model, torch.nn.Linear(10, 3)), **CHEAP).run(images[:2], labels[:2] % 3)


def test_missing_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyautoattack" else real(name, *a))
    with pytest.raises(RftError, match=r"pip install 'rftlib\[autoattack\]'") as info:
        check_attack_spec({"name": "autoattack"})
    assert "\n" not in str(info.value)
