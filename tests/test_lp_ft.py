"""LP-FT (Kumar et al., ICLR 2022): the probe stage leaves the pretrained backbone bit-identical and the
strategy's initialisation as in the plain run; with a learning rate of 0 the second stage ends at the
probe; a robust probe objective (RoLI) is a different head; a killed LP-FT run resumes exactly."""
import signal

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import rftlib
from rftlib.runs.config import RunConfig
from rftlib.data import load_task
from rftlib.models import build_model
from rftlib.runs.records import read_records
from rftlib.training.probe_head import PROBE_HEAD, fit_probe_head, head_names, set_head
from rftlib.core.seeding import seed_everything
from rftlib.training import loop
from rftlib.training.checkpoint import trainable_state
from test_resume import _start, _wait_for_records
from training_helpers import TINY_VIT as SMALL, tiny_config, without_timing



def pretrained_and_task(config: dict):
    """The run's "pretrained" model (a seeded random init in these CPU tests) and its task."""
    config = RunConfig.from_dict(config)
    seed_everything(config.seed)
    task = load_task(config.dataset, image_size=16, seed=config.seed, val_fraction=config.val_fraction,
                     **config.dataset_options)
    return build_model(config.model, task.num_classes, pretrained=False, **config.model_kwargs), task


def test_probe_fit_trains_the_head_only_and_leaves_the_model_untouched():
    model, task = pretrained_and_task(tiny_config())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, labels = next(iter(torch.utils.data.DataLoader(task.train, batch_size=128)))
    with torch.no_grad():
        loss_before = F.cross_entropy(model.eval()(images), labels)
    head = fit_probe_head(model, task.train, steps=20, lr=1e-2, batch_size=32, seed=0)
    assert set(head) == set(head_names(model)) == {"backbone.head.weight", "backbone.head.bias"}
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the model passed in: bit-identical
    probed = build_model("vit_tiny_patch16_224", 4, pretrained=False, **SMALL)
    probed.load_state_dict(before)
    set_head(probed, head)
    with torch.no_grad():
        assert F.cross_entropy(probed.eval()(images), labels) < loss_before - 0.1  # the head learned the task
    # Deterministic: a refit (a killed first stage) gives the same head; a robust objective (RoLI) another.
    again = fit_probe_head(model, task.train, steps=20, lr=1e-2, batch_size=32, seed=0)
    assert all(torch.equal(head[k], again[k]) for k in head)
    robust = fit_probe_head(model, task.train, steps=3, lr=1e-2, batch_size=32, seed=0, objective="pgd_at",
                            objective_options={"eps": 4 / 255, "alpha": 2 / 255, "steps": 2, "random_start": True})
    standard = fit_probe_head(model, task.train, steps=3, lr=1e-2, batch_size=32, seed=0)
    assert not torch.equal(robust["backbone.head.weight"], standard["backbone.head.weight"])


def test_the_strategy_starts_as_in_the_plain_run(tmp_path):
    """The probe stage runs outside the global random stream: LoRA's A (and every other module the
    strategy adds) is initialised as without lp_ft; only the head differs."""
    plain = RunConfig.from_dict(tiny_config(strategy="lora")).resolved()
    lp = RunConfig.from_dict(tiny_config(strategy="lora", lp_ft={"steps": 3})).resolved()
    states = []
    for config in (plain, lp):
        seed_everything(config.seed)
        states.append(trainable_state(loop.build_run_model(config, tmp_path, torch.device("cpu"))[1]))
    heads = set(head_names(loop.build_run_model(plain, tmp_path, torch.device("cpu"))[1]))
    assert set(states[0]) == set(states[1]) and any(".lora_A." in k for k in states[0])
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]) != (name in heads), name
    assert (tmp_path / PROBE_HEAD).exists()


@pytest.mark.slow
def test_with_lr_0_the_second_stage_ends_at_the_probe(tmp_path, monkeypatch):
    # The learning rate is validated > 0, so the second stage's schedule is zeroed here instead: AdamW
    # then moves nothing (its update and its decoupled weight decay are both multiplied by 0).
    monkeypatch.setattr(loop, "make_scheduler", lambda optimizer, **_: torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.0))
    config = tiny_config(strategy="full", lp_ft={"steps": 10, "lr": 1e-2}, max_steps=8, output_dir=str(tmp_path))
    result = rftlib.finetune(config, progress=False)
    head = load_file(str(result.run_dir / PROBE_HEAD))
    final = load_file(str(result.run_dir / "trainable.safetensors"))
    pretrained, task = pretrained_and_task(config)
    for name, tensor in pretrained.named_parameters():  # the backbone: the pretrained one, bit for bit
        if name not in head:
            assert torch.equal(final[name], tensor), name
    for name in head:  # the head: the probe's
        assert torch.equal(final[name], head[name])
        assert not torch.equal(head[name], pretrained.state_dict()[name])  # (the probe moved it)
    assert result.records["clean_acc"].nunique() == 1  # the probed model at every evaluation


@pytest.mark.slow
def test_a_killed_lp_ft_run_resumes_with_identical_records(tmp_path):
    config = tiny_config(strategy="adapter", lp_ft={"steps": 10, "lr": 1e-2}, max_steps=24, schedule=[[None, 4]])
    reference = rftlib.finetune(config, run_dir=tmp_path / "reference", progress=False)
    run_dir = tmp_path / "killed"
    process = _start(config, run_dir)
    _wait_for_records(run_dir / "records.jsonl", 3, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "done").exists() and (run_dir / PROBE_HEAD).exists()
    assert len(read_records(run_dir / "records.jsonl")) < 7
    resumed = rftlib.finetune(config, run_dir=run_dir, progress=False)
    assert without_timing(resumed.records) == without_timing(reference.records)
    for name in (PROBE_HEAD, "trainable.safetensors"):
        assert (run_dir / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()
