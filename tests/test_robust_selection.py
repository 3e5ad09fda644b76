"""Robust checkpoint selection, ``final_model: robust_val``: the rule, the kept weights (the validation
frontier) and their resume repair, never reading the test split, resume, bad input, and the scientific
regression on the positive control."""
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from rftlib import RunConfig, finetune
from rftlib.core.errors import RftError
from rftlib.runs.outcomes import read_outcomes
from rftlib.stats import paired_difference_interval
from rftlib.training.best import FRONTIER_DIR, FrontierWeights, robust_record
from test_controls import control
from test_l2_sp import SMALL
from training_helpers import die_after_steps, tiny_config, without_timing


def rec(step, val, adv):
    return {"step": step, "val_acc": val, "val_adv_acc": adv}


def test_the_rule_the_tolerance_and_the_kept_frontier_agree_with_choosing_from_every_record(tmp_path):
    records = [rec(0, 0.3, 0.30), rec(4, 0.6, 0.45), rec(8, 0.8, 0.40), rec(12, 0.9, 0.10), rec(16, 0.9, 0.10)]
    assert robust_record(records)["step"] == 4
    assert robust_record(records, 0.1)["step"] == 8  # within 0.1 of the best val_acc 0.9
    assert robust_record(records, 0.0)["step"] == 12  # the earliest of equal ones
    assert robust_record(records, 1.0)["step"] == 4 and robust_record([], 0.1) is None
    # The frontier keeper keeps every record that some tolerance could choose, and only those.
    rng = random.Random(0)
    for trial in range(60):
        records = [rec(4 * i, rng.choice([0.1, 0.2, 0.3, 0.5]), rng.choice([0.0, 0.1, 0.2])) for i in range(8)]
        keeper = FrontierWeights(tmp_path / str(trial), [], nn.Linear(1, 1), None, None)
        for r in records:
            keeper.update(nn.Linear(1, 1), r)
        kept = {int(p.stem.split("_")[1]) for p in (tmp_path / str(trial) / FRONTIER_DIR).iterdir()}
        assert kept == {r["step"] for r in keeper.frontier}
        for tolerance in (None, 0.0, 0.1, 0.25, 0.5):
            assert robust_record(keeper.frontier, tolerance) == robust_record(records, tolerance)


def test_a_resumed_keeper_repairs_its_files(tmp_path):
    model, later = nn.Linear(2, 2), nn.Linear(2, 2)
    keeper = FrontierWeights(tmp_path, [], model, None, None)
    keeper.update(model, rec(0, 0.5, 0.5))
    keeper.update(later, rec(4, 0.6, 0.4))
    keeper.update(later, rec(8, 0.7, 0.3))  # file written, then killed before step 8's checkpoint
    # Resumed from step 4's checkpoint: step 8's file goes; killed before step 4's file: the model has it.
    (tmp_path / FRONTIER_DIR / "step_0000004.safetensors").unlink()
    resumed = FrontierWeights(tmp_path, [rec(0, 0.5, 0.5), rec(4, 0.6, 0.4)], later, 4, 0.05)
    assert sorted(p.name for p in (tmp_path / FRONTIER_DIR).iterdir()) == ["step_0000000.safetensors",
                                                                           "step_0000004.safetensors"]
    fresh = nn.Linear(2, 2)
    assert resumed.restore(fresh)["step"] == 4 and torch.equal(fresh.weight, later.weight)


@pytest.mark.slow
def test_changing_the_test_labels_cannot_change_the_chosen_checkpoint(tmp_path, monkeypatch):
    from rftlib.training import loop

    config = tiny_config(model_kwargs=SMALL, lr=3e-3, final_model="robust_val")
    real_load_task = loop.load_task
    reference = finetune(config, run_dir=tmp_path / "reference", progress=False)

    def shuffled_test_labels(*args, **kwargs):
        task = real_load_task(*args, **kwargs)
        task.test._labels = (task.test._labels + 1) % 4  # every test label now wrong
        return task

    monkeypatch.setattr(loop, "load_task", shuffled_test_labels)
    changed = finetune(config, run_dir=tmp_path / "changed", progress=False)
    assert list(changed.records["clean_acc"]) != list(reference.records["clean_acc"])  # the labels did change
    for column in ("val_acc", "val_adv_acc"):
        assert list(changed.records[column]) == list(reference.records[column])
    assert changed.summary["final"]["step"] == reference.summary["final"]["step"]
    a, b = load_file(tmp_path / "reference" / "trainable.safetensors"), load_file(tmp_path / "changed" / "trainable.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resumed_robust_val_run_with_every_remedy_has_the_records_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """L2-SP, an ε-schedule and robust selection with a tolerance in one run, killed after step 4's
    checkpoint: the same records, the same chosen checkpoint, the same weights."""
    config = tiny_config(model_kwargs=SMALL, max_steps=8, lr=3e-3, final_model="robust_val", selection_tolerance=0.2,
                         objective="pgd_at", objective_options={"steps": 2, "eps": 8 / 255,
                                                                "eps_schedule": {"clean": 0.25, "ramp": 0.5}},
                         l2_sp={"alpha": 0.1, "beta": 0.01})
    reference = finetune(config, run_dir=tmp_path / "reference", progress=False)
    die_after_steps(monkeypatch, 6)
    with pytest.raises(KeyboardInterrupt):
        finetune(config, run_dir=tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    resumed = finetune(config, run_dir=tmp_path / "resumed", progress=False)
    assert without_timing(resumed.records) == without_timing(reference.records)
    assert resumed.summary["final"] == reference.summary["final"]
    a, b = load_file(tmp_path / "reference" / "trainable.safetensors"), load_file(tmp_path / "resumed" / "trainable.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_robust_val_and_its_tolerance_are_checked_and_left_out_of_old_run_names():
    name = RunConfig.from_dict(tiny_config()).run_name()
    assert name == RunConfig.from_dict(tiny_config(selection_tolerance=None)).run_name()
    for bad in (-0.1, 1.5):
        with pytest.raises(RftError, match=rf"^selection_tolerance must be a finite number in \[0, 1\], got {bad}$"):
            RunConfig.from_dict(tiny_config(final_model="robust_val", selection_tolerance=bad))
    with pytest.raises(RftError, match="selection_tolerance applies to final_model 'robust_val' only"):
        RunConfig.from_dict(tiny_config(selection_tolerance=0.1))
    with pytest.raises(RftError, match="robust_val' needs a validation hold-out"):
        RunConfig.from_dict(tiny_config(final_model="robust_val", val_fraction=0.0))


@pytest.mark.slow
def test_robust_selection_ends_clearly_more_robust_than_the_last_model_on_the_positive_control(tmp_path):
    # The positive control of test_controls (robust accuracy peaks by step 10-20, then falls by ~0.6). The
    # run's last record is what final_model: last reports: evaluation never changes the training
    # trajectory (rftlib.training.evaluation), so one robust_val run gives both ends.
    # Seeds 0 / 1 / 2: robust_val chose step 20 / 10 / 20 with robust accuracy 0.75 / 0.80 / 0.82 against
    # 0.09 / 0.21 / 0.17 for the last model: differences 0.66 / 0.58 / 0.65, paired 95% lower bounds
    # 0.59 / 0.52 / 0.58. The margins (0.3, 0.2) leave room on both sides.
    result = finetune({**control(tmp_path, 4.0), "final_model": "robust_val"}, progress=False)
    chosen, last = result.summary["final"], result.records.iloc[-1]
    outcomes = read_outcomes(result.run_dir)
    difference = paired_difference_interval(outcomes[chosen["step"]]["robust"], outcomes[int(last["step"])]["robust"])
    assert chosen["step"] < last["step"]
    assert chosen["adv_acc"] - last["adv_acc"] > 0.3 and difference[0] > 0.2
