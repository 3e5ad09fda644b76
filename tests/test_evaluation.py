"""Continuous evaluation: several attacks on the clean-correct points only, the per-sample worst case,
and per-sample outcome files that agree with the records."""
import numpy as np
import pytest
import torch
from torch import nn

from rftlib import RftError, RunConfig, finetune
from rftlib.runs.outcomes import drop_outcomes_after, outcome_steps, read_outcomes, write_outcomes
from rftlib.training.evaluation import Evaluator
from training_helpers import tiny_config


class _Images(torch.utils.data.Dataset):
    def __init__(self, n=50, classes=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 3, 8, 8, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 4))


def _evaluator(attacks, batch_size=16, extra_sets=None):
    return Evaluator(test=_Images(), ood=_Images(30, seed=1), size="all", seed=0, batch_size=batch_size,
                     attacks=attacks, device=torch.device("cpu"), precision="fp32", extra_sets=extra_sets)


PGD_WEAK = {"name": "pgd", "label": "weak", "eps": 2 / 255, "alpha": 1 / 255, "steps": 2, "random_start": True}
PGD_STRONG = {"name": "pgd", "label": "strong", "eps": 16 / 255, "alpha": 4 / 255, "steps": 5, "random_start": True}


def test_outcomes_are_consistent_with_the_accuracies_and_the_worst_case():
    model = _model()
    result = _evaluator([PGD_WEAK, PGD_STRONG], extra_sets={"again": _Images()})(model, step=3)
    out = result.outcomes
    assert out["clean"].shape == (50,) and out["ood"].shape == (30,)
    assert result.clean_acc == pytest.approx(out["clean"].mean())
    assert result.ood_acc == pytest.approx(out["ood"].mean())
    for label in ("weak", "strong"):
        assert result.attack_acc[label] == pytest.approx(out[f"robust_{label}"].mean())
        assert not (out[f"robust_{label}"] & ~out["clean"]).any()  # a wrong clean point is never robust
    assert (out["robust"] == (out["robust_weak"] & out["robust_strong"])).all()
    assert result.adv_acc == pytest.approx(out["robust"].mean())
    assert result.adv_acc <= min(result.attack_acc.values())
    assert (out["again"] == out["clean"]).all() and result.extra_acc["again"] == result.clean_acc
    assert 0 < result.clean_acc < 1 and result.attack_acc["strong"] < result.attack_acc["weak"]


def test_packing_of_clean_correct_points_does_not_depend_on_the_batch_size():
    # Without a random start the attack is deterministic, so how points are packed cannot matter.
    attack = {**PGD_STRONG, "random_start": False}
    a = _evaluator([attack], batch_size=7)(_model(), step=0).outcomes
    b = _evaluator([attack], batch_size=50)(_model(), step=0).outcomes
    assert all((a[k] == b[k]).all() for k in a)


def test_evaluation_is_deterministic_and_leaves_the_model_and_rng_as_found():
    model = _model().train()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = _evaluator([PGD_WEAK])(model, step=5).outcomes
    assert torch.rand(1) == expected_next and model.training
    second = _evaluator([PGD_WEAK])(model, step=5).outcomes
    assert all((first[k] == second[k]).all() for k in first)


def test_outcome_files_round_trip_and_are_dropped_past_a_step(tmp_path):
    flags = {"clean": np.array([True, False, True]), "robust": np.array([False, False, True])}
    for step in (0, 10, 20):
        write_outcomes(tmp_path, step, flags)
    assert outcome_steps(tmp_path) == [0, 10, 20]
    assert (read_outcomes(tmp_path)[10]["robust"] == flags["robust"]).all()
    drop_outcomes_after(tmp_path, 10)
    assert outcome_steps(tmp_path) == [0, 10]
    (tmp_path / "outcomes" / "step_0000010.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(RftError, match="step_0000010.npz"):
        read_outcomes(tmp_path)


def test_a_run_records_each_attack_and_writes_outcomes_per_evaluation(tmp_path):
    config = tiny_config(max_steps=4, schedule=[[None, 2]], attacks=[
        {"name": "pgd", "steps": 1, "eps": 1 / 255, "alpha": 1 / 255},
        {"name": "pgd", "label": "pgd8", "steps": 2, "eps": 8 / 255, "alpha": 4 / 255}])
    result = finetune(config, run_dir=tmp_path / "run", progress=False)
    records = result.records
    assert list(records["step"]) == [0, 2, 4]
    assert (records["adv_acc"] <= records[["adv_acc_pgd", "adv_acc_pgd8"]].min(axis=1)).all()
    outcomes = read_outcomes(result.run_dir)
    assert list(outcomes) == [0, 2, 4]
    for (_, record), step in zip(records.iterrows(), outcomes):
        assert record["clean_acc"] == pytest.approx(outcomes[step]["clean"].mean())
        assert record["adv_acc"] == pytest.approx(outcomes[step]["robust"].mean())
        assert record["adv_acc_pgd8"] == pytest.approx(outcomes[step]["robust_pgd8"].mean())


def test_attacks_configuration_is_checked_and_keeps_old_run_names():
    base = RunConfig.from_dict(tiny_config())
    assert base.attack_specs() == [{"name": "pgd", "label": "pgd", "eps": 4 / 255, "alpha": 2 / 255, "steps": 2,
                                    "random_start": True}]
    explicit = RunConfig.from_dict(tiny_config(attacks=[{"name": "pgd"}]))
    assert explicit.attack_specs() == base.attack_specs()
    assert explicit.run_name() != base.run_name()  # a configuration that names attacks is a new run
    for attacks, message in [([], "at least one"), ([{"name": "pgdd"}], "pgd"), ([{"steps": 3}], "'name'"),
                             ([{"name": "pgd", "stepz": 3}], "did you mean 'steps'"),
                             ([{"name": "pgd"}, {"name": "pgd"}], "distinct labels"),
                             ([{"name": "pgd", "label": "Has Space"}], "label")]:
        with pytest.raises(RftError, match=message):
            RunConfig.from_dict(tiny_config(attacks=attacks))


def test_attacks_without_an_eps_take_the_pgd_eps():
    config = RunConfig.from_dict(tiny_config(attack={"eps": 4 / 255}, attacks=[
        {"name": "pgd"}, {"name": "apgd", "steps": 3}, {"name": "apgd", "label": "apgd8", "eps": 8 / 255}]))
    eps = {spec["label"]: spec["eps"] for spec in config.attack_specs()}
    assert eps == {"pgd": 4 / 255, "apgd": 4 / 255, "apgd8": 8 / 255}
