"""L2-SP (Li, Grandvalet & Davoine, ICML 2018): the penalty against TLlib's formula, its gradient,
alpha = beta = 0 changing nothing, a huge alpha holding the weights at their start, resume, bad input."""
import pytest
import torch

from rftlib import RunConfig, finetune
from rftlib.core.errors import RftError
from rftlib.models import build_model
from rftlib.remedies.l2_sp import L2SP, WithL2SP
from rftlib.strategies import apply_strategy
from rftlib.training.objectives import make_objective
from rftlib.training.optim import make_optimizer
from rftlib.training.step import training_step
from training_helpers import die_after_steps, tiny_config, without_timing

SMALL = {"img_size": 16, "patch_size": 4, "depth": 2, "embed_dim": 32, "num_heads": 2}


def tiny(strategy="full", seed=0):
    torch.manual_seed(seed)
    return apply_strategy(build_model("vit_tiny_patch16_224", 4, pretrained=False, **SMALL), strategy)


def batch(seed=1, n=8):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 16, 16, generator=generator), torch.randint(0, 4, (n,), generator=generator)


def nudge(model, seed=2):
    """Move every trainable parameter off its start, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn(p.shape, generator=generator))


@pytest.mark.parametrize("strategy", ["full", "lora", "ia3", "bitfit"])
def test_penalty_is_tllib_sp_plus_l2_and_its_gradient_is_alpha_times_the_drift(strategy):
    model = tiny(strategy)
    alpha, beta = 0.3, 0.05
    l2_sp = L2SP(model, alpha=alpha, beta=beta)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    head = {n for n, _ in model.named_parameters() if n.startswith("backbone.head.")}
    assert {n for n, _ in l2_sp.head} == head and head
    assert {n for n, _, _ in l2_sp.anchored} == {n for n, p in model.named_parameters() if p.requires_grad} - head
    nudge(model)
    # TLlib's SPRegularization / L2Regularization (tllib/regularization/delta.py): 0.5 * ||w - w0||^2
    # summed over the source parameters, 0.5 * ||w||^2 over the new head; loss + alpha * sp + beta * l2.
    params = dict(model.named_parameters())
    sp = sum(0.5 * torch.norm(params[n] - start[n]) ** 2 for n, _, _ in l2_sp.anchored)
    l2 = sum(0.5 * torch.norm(params[n]) ** 2 for n in head)
    penalty = l2_sp.penalty()
    torch.testing.assert_close(penalty, alpha * sp + beta * l2)
    penalty.backward()
    for name, p in params.items():
        if not p.requires_grad:
            assert p.grad is None, name  # frozen weights carry no term
        elif name in head:
            torch.testing.assert_close(p.grad, beta * p.detach())
        else:
            torch.testing.assert_close(p.grad, alpha * (p.detach() - start[name]))


def test_a_huge_alpha_keeps_the_weights_where_they_started():
    images, labels = batch()

    def drift(alpha):
        model = tiny("full")
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
        objective = WithL2SP(make_objective("standard"), L2SP(model, alpha=alpha, beta=0.0))
        optimizer = make_optimizer(model, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8)
        for step in range(20):
            training_step(model, optimizer, images, labels, objective=objective, step=step, grad_clip=None)
        return max((p.detach() - start[n]).abs().max().item() for n, p in model.named_parameters()
                   if not n.startswith("backbone.head."))

    free, held = drift(0.0), drift(1e6)
    # 20 AdamW steps of lr 1e-3 move a free weight by up to ~2e-2 (measured 0.0209 / 0.0211 / 0.0208 on
    # seeds 1-3); under alpha = 1e6 the penalty's pull dominates from the second step on and the weights
    # stay within a fraction of lr of their start (measured 2.8e-4 on all three). Margins: a factor 2-3.
    assert free > 1e-2
    assert held < 1e-3 and held < free / 20


@pytest.mark.slow
def test_zero_weights_give_the_records_and_weights_of_plain_fine_tuning(tmp_path):
    from safetensors.torch import load_file

    plain = finetune(tiny_config(model_kwargs=SMALL, max_steps=8), run_dir=tmp_path / "plain", progress=False)
    zero = finetune(tiny_config(model_kwargs=SMALL, max_steps=8, l2_sp={"alpha": 0.0, "beta": 0.0}),
                    run_dir=tmp_path / "zero", progress=False)
    assert (zero.records["l2_sp_penalty"].fillna(0) == 0).all()
    assert without_timing(zero.records.drop(columns="l2_sp_penalty")) == without_timing(plain.records)
    a, b = load_file(tmp_path / "plain" / "trainable.safetensors"), load_file(tmp_path / "zero" / "trainable.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resumed_l2_sp_run_has_the_records_of_an_uninterrupted_one(tmp_path, monkeypatch):
    config = tiny_config(model_kwargs=SMALL, max_steps=8, l2_sp={"alpha": 1.0, "beta": 0.1})
    reference = finetune(config, run_dir=tmp_path / "reference", progress=False)
    assert reference.records["l2_sp_penalty"].iloc[-1] > 0
    die_after_steps(monkeypatch, 6)  # after the evaluation and checkpoint at step 4
    with pytest.raises(KeyboardInterrupt):
        finetune(config, run_dir=tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    resumed = finetune(config, run_dir=tmp_path / "resumed", progress=False)
    assert without_timing(resumed.records) == without_timing(reference.records)


def test_l2_sp_is_checked_and_left_out_of_old_run_names():
    name = RunConfig.from_dict(tiny_config()).run_name()
    assert name == RunConfig.from_dict(tiny_config(l2_sp=None)).run_name()
    assert name != RunConfig.from_dict(tiny_config(l2_sp={"alpha": 0.0, "beta": 0.0})).run_name()
    with pytest.raises(RftError, match=r"l2_sp.alpha must be a finite number >= 0, got -0.1"):
        RunConfig.from_dict(tiny_config(l2_sp={"alpha": -0.1}))
    with pytest.raises(RftError, match=r"l2_sp.beta must be a finite number >= 0, got -1"):
        RunConfig.from_dict(tiny_config(l2_sp={"beta": -1}))
    with pytest.raises(RftError, match=r"unknown l2_sp key 'alpa' \(did you mean 'alpha'\?\); valid: alpha, beta"):
        RunConfig.from_dict(tiny_config(l2_sp={"alpa": 1}))


@pytest.mark.parametrize("overrides, message", [
    ({"l2_sp": {"alpha": -1}}, r"^rft run: error: l2_sp.alpha must be a finite number >= 0, got -1.0$"),
    ({"objective_options": {"eps_schedule": {}}}, r"^rft run: error: objective_options.eps_schedule needs an "
                                                  r"adversarial objective \(pgd_at or trades\); objective is 'standard'$"),
    ({"final_model": "robust_val", "selection_tolerance": 2},
     r"^rft run: error: selection_tolerance must be a finite number in \[0, 1\], got 2"),
])
def test_bad_remedy_settings_are_one_line_and_exit_2_before_anything_is_written(tmp_path, capsys, overrides, message):
    import re

    import yaml

    from rftlib.cli import main as rft

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_config(output_dir=str(tmp_path / "out"), **overrides)))
    assert rft(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "out").exists()
