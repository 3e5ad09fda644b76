import json
import math

import pytest
import torch
import yaml

from rftlib import RunConfig, finetune
from rftlib.cli import main as rft
from rftlib.core.errors import RftError
from rftlib.training import TrainingDiverged
from rftlib.training.optim import lr_factor
from training_helpers import tiny_config, without_timing


def test_run_writes_records_config_summary_and_done(tmp_path):
    result = finetune(tiny_config(output_dir=str(tmp_path)), progress=False)
    run_dir = result.run_dir
    assert run_dir.parent == tmp_path and run_dir.name.startswith("synthetic_lora_s0_")
    for name in ("config.yaml", "records.jsonl", "summary.json", "done", "trainable.safetensors"):
        assert (run_dir / name).exists(), name
    lines = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 4, 8, 12]
    assert set(lines[0]) >= {"step", "epoch", "lr", "train_loss", "clean_acc", "adv_acc", "ood_acc",
                             "eval_seconds", "train_seconds"}
    assert lines[0]["train_loss"] is None and lines[1]["train_loss"] > 0
    assert all(r["ood_acc"] is None for r in lines)
    assert all(0 <= r["adv_acc"] <= r["clean_acc"] + 1e-9 <= 1 + 1e-9 for r in lines)
    # The resolved configuration is recorded: the strategy's defaults filled in.
    stored = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert stored["lr_schedule"] == "cosine" and stored["weight_decay"] == 0.0
    assert stored["attack"]["steps"] == 2 and stored["attack"]["random_start"] is True
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 12 and 0 < summary["pareto_auc"] <= 1
    assert summary["best_adv_acc"] == max(r["adv_acc"] for r in lines)
    assert 0 < summary["trainable_fraction"] < 1


def test_same_config_gives_the_same_records(tmp_path):
    first = finetune(tiny_config(), run_dir=tmp_path / "a", progress=False)
    second = finetune(tiny_config(), run_dir=tmp_path / "b", progress=False)
    assert without_timing(first.records) == without_timing(second.records)
    other_seed = finetune(tiny_config(seed=1), run_dir=tmp_path / "c", progress=False)
    assert without_timing(other_seed.records) != without_timing(first.records)


def test_evaluation_does_not_change_the_training_trajectory(tmp_path):
    from safetensors.torch import load_file

    dense = finetune(tiny_config(schedule=[[None, 1]]), run_dir=tmp_path / "dense", progress=False)
    none = finetune(tiny_config(schedule="none"), run_dir=tmp_path / "none", progress=False)
    assert len(dense.records) == 13 and len(none.records) == 0
    a = load_file(dense.run_dir / "trainable.safetensors")
    b = load_file(none.run_dir / "trainable.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finished_run_is_loaded_not_redone(tmp_path):
    first = finetune(tiny_config(), run_dir=tmp_path / "run", progress=False)
    mtime = (first.run_dir / "records.jsonl").stat().st_mtime_ns
    again = finetune(tiny_config(), run_dir=tmp_path / "run", progress=False)
    assert (again.run_dir / "records.jsonl").stat().st_mtime_ns == mtime
    assert without_timing(again.records) == without_timing(first.records)


def test_a_directory_holding_another_config_is_refused(tmp_path):
    finetune(tiny_config(max_steps=4), run_dir=tmp_path / "run", progress=False)
    with pytest.raises(RftError, match="different configuration.*max_steps"):
        finetune(tiny_config(max_steps=8), run_dir=tmp_path / "run", progress=False)


def test_nan_loss_stops_with_the_step_and_keeps_records(tmp_path):
    run_dir = tmp_path / "nan"
    with pytest.raises(TrainingDiverged, match="at step 5"):
        _run_with_nan_at(run_dir, step=5)
    steps = [json.loads(line)["step"] for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert steps == [0, 4]
    assert not (run_dir / "done").exists()
    # Marked failed, with the reason: no table reads it as a result (rftlib.analysis.results).
    assert (run_dir / "failed").read_text().startswith("TrainingDiverged: loss is nan at step 5")


def _run_with_nan_at(run_dir, step):
    """Poison the data so the loss is NaN at optimiser step ``step`` (1-based)."""
    import rftlib.training.loop as loop

    original = loop._epoch_batches

    def poisoned(dataset, config, steps_per_epoch, start):
        for i, (images, labels) in enumerate(original(dataset, config, steps_per_epoch, start), start + 1):
            if i == step:
                images = images * float("nan")
            yield images, labels

    loop._epoch_batches = poisoned
    try:
        finetune(tiny_config(), run_dir=run_dir, progress=False)
    finally:
        loop._epoch_batches = original


@pytest.mark.parametrize("overrides, message", [
    ({"strategy": "lorra"}, "unknown strategy 'lorra' \\(did you mean 'lora'\\?\\)"),
    ({"dataset": "cifar11"}, "unknown dataset 'cifar11'"),
    ({"learning_rate": 0.1}, "unknown run config key 'learning_rate'"),
    ({"batch_size": "big"}, "batch_size' must be an integer"),
    ({"eval_size": "most"}, "eval_size must be a positive integer or 'all'"),
    ({"attack": {"epsilon": 0.1}}, "unknown attack option 'epsilon' \\(did you mean 'eps'\\?\\)"),
    ({"schedule": "papr"}, "did you mean 'paper'"),
    ({"weights": "/no/such/file.safetensors"}, "weights file not found"),
])
def test_bad_configs_fail_before_anything_is_written(tmp_path, overrides, message):
    with pytest.raises(RftError, match=message):
        finetune(tiny_config(output_dir=str(tmp_path), **overrides), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_run_name_is_derived_from_the_resolved_config():
    base = RunConfig.from_dict(tiny_config())
    assert base.run_name() == RunConfig.from_dict(tiny_config(device="cuda", output_dir="x")).run_name()
    assert base.run_name() != RunConfig.from_dict(tiny_config(lr=2e-3)).run_name()
    # An explicit default and the implicit one are the same run.
    assert RunConfig.from_dict(tiny_config(lr=None)).run_name() == \
        RunConfig.from_dict(tiny_config(lr=5e-3)).run_name()


def test_lr_schedules_warm_up_then_decay():
    assert lr_factor(0, kind="cosine", warmup_steps=10, total_steps=110) == 0
    assert lr_factor(10, kind="cosine", warmup_steps=10, total_steps=110) == 1
    assert math.isclose(lr_factor(60, kind="cosine", warmup_steps=10, total_steps=110), 0.5)
    assert math.isclose(lr_factor(60, kind="linear", warmup_steps=10, total_steps=110), 0.5)
    assert lr_factor(110, kind="linear", warmup_steps=0, total_steps=110) == 0


def test_rft_run_cli_with_overrides(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config(max_steps=20)))
    assert rft(["run", str(config), "-p", "max_steps=4", "-p", "attack.steps=1",
                "--run-dir", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "run directory" in out and "Pareto AUC" in out
    stored = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert stored["max_steps"] == 4 and stored["attack"]["steps"] == 1


def test_rft_run_cli_bad_key_is_one_line(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config()))
    assert rft(["run", str(config), "-p", "stratgy=lora"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'strategy'" in err


def test_bf16_autocast_run_on_cpu(tmp_path):
    result = finetune(tiny_config(precision="bf16", max_steps=4), run_dir=tmp_path / "bf16", progress=False)
    assert list(result.records["step"]) == [0, 4]
    assert result.records["train_loss"].iloc[-1] > 0 and (result.records["adv_acc"] <= 1).all()


def test_run_names_of_existing_configurations_never_change():
    # Pinned from the first release: a finished run must keep loading under its name, so fields added
    # later (RunConfig.ADDED_FIELDS) stay out of the identity while they hold their default.
    assert RunConfig.from_dict({"strategy": "bitfit", "dataset": "digits", "seed": 3}).run_name() == \
        "digits_bitfit_s3_561c882c"
    assert RunConfig.from_yaml("params/runs/digits_tiny.yaml").run_name() == "digits_full_s0_c86b0053"
