"""final_model: best_val — the result is the evaluated model of highest validation accuracy, as the
released code reloads its best-validation checkpoint before the final evaluation."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from rftlib import RunConfig, finetune
from rftlib.core.errors import RftError
from rftlib.training.best import BEST_WEIGHTS, VAL_KEY, BestWeights, best_record
from training_helpers import tiny_config


@pytest.mark.slow
def test_best_val_run_ends_on_the_best_validation_model(tmp_path):
    result = finetune(tiny_config(final_model="best_val", lr=3e-3), run_dir=tmp_path / "run", progress=False)
    records = result.records.to_dict("records")
    assert [r["step"] for r in records] == [0, 4, 8, 12] and all(0 <= r["val_acc"] <= 1 for r in records)
    best = best_record(records)
    assert result.summary["final"]["step"] == best["step"] and result.summary["final"]["val_acc"] == best["val_acc"]
    assert result.summary["final"]["clean_acc"] == best["clean_acc"]
    with safe_open(str(tmp_path / "run" / BEST_WEIGHTS), framework="pt") as handle:
        assert handle.metadata()["step"] == str(best["step"])
    final = load_file(tmp_path / "run" / "trainable.safetensors")
    kept = load_file(tmp_path / "run" / BEST_WEIGHTS)
    assert final.keys() == kept.keys() and all(torch.equal(final[k], kept[k]) for k in final)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final"]["step"] == best["step"]


def test_best_val_is_the_earliest_maximum_and_survives_a_kill_before_it_was_kept(tmp_path):
    records = [{"step": 0, "val_acc": 0.2}, {"step": 4, "val_acc": 0.5}, {"step": 8, "val_acc": 0.5}]
    assert best_record(records)["step"] == 4
    model = nn.Linear(2, 2)
    # Killed after step 4's checkpoint, before its weights were kept: the resumed model holds them.
    keeper = BestWeights(tmp_path, BEST_WEIGHTS, VAL_KEY, records[:2], model, resumed_step=4)
    with safe_open(str(tmp_path / BEST_WEIGHTS), framework="pt") as handle:
        assert handle.metadata()["step"] == "4"
    keeper.update(nn.Linear(2, 2), records[2])  # equal, not better: the earlier stays
    assert torch.equal(load_file(tmp_path / BEST_WEIGHTS)["weight"], model.weight.detach())


def test_final_model_is_checked_and_left_out_of_old_run_names():
    name = RunConfig.from_dict(tiny_config()).run_name()
    assert name == RunConfig.from_dict(tiny_config(final_model="last")).run_name()
    assert name != RunConfig.from_dict(tiny_config(final_model="best_val")).run_name()
    with pytest.raises(RftError, match="final_model' must be one of 'last', 'best_val'"):
        RunConfig.from_dict(tiny_config(final_model="best"))
    with pytest.raises(RftError, match="best_val' needs a validation hold-out"):
        RunConfig.from_dict(tiny_config(final_model="best_val", val_fraction=0.0))
