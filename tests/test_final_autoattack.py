"""End-of-run AutoAttack: the peak-PGD weights, the paired PGD overstatement in the summary, the report
columns, and one-line configuration errors before anything loads."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rftlib.analysis import calibration, results
from rftlib.runs.config import RunConfig
from rftlib.core.errors import RftError
from rftlib.runs.outcomes import read_outcomes
from rftlib.training.best import BestWeights
from rftlib.training.final_autoattack import FLAGS, PEAK_WEIGHTS, peak_key, subset_positions
from rftlib.training.loop import finetune
from training_helpers import tiny_config

CHEAP_AUTOATTACK = {"size": 12, "steps": 3, "square_queries": 10}


@pytest.mark.slow
def test_a_run_reports_how_much_pgd_overstated_robustness(tmp_path):
    config = tiny_config(dataset="digits", dataset_options={}, final_autoattack=CHEAP_AUTOATTACK,
                         attacks=[{"name": "pgd"}, {"name": "apgd", "steps": 2, "label": "apgd"}],
                         max_steps=8)
    result = finetune(config, run_dir=tmp_path / "run", progress=False)
    run = result.run_dir
    entry = result.summary["autoattack"]
    assert entry["points"] == 12 and entry["standard"] is False and entry["eps"] == pytest.approx(4 / 255)

    # The peak is the step of highest PGD robust accuracy (not the worst case over both attacks).
    records = result.records
    peak_step = int(records.loc[records["adv_acc_pgd"].idxmax(), "step"])
    assert entry["peak"]["step"] == peak_step and entry["final"]["step"] == records["step"].max()
    stored = load_file(str(run / PEAK_WEIGHTS))
    assert stored.keys() == load_file(str(run / "trainable.safetensors")).keys()

    # PGD's flags are the recorded evaluation's, on the same seeded points AutoAttack attacked.
    flags = np.load(run / FLAGS)
    positions = flags["positions"]
    assert np.array_equal(positions, subset_positions(config["eval_size"], 12, 0))
    outcomes = read_outcomes(run)
    for which in ("final", "peak"):
        figures = entry[which]
        pgd = outcomes[figures["step"]]["robust_pgd"][positions]
        autoattack = flags[f"{which}_robust"]
        assert figures["pgd_acc"] == pytest.approx(pgd.mean())
        assert figures["autoattack_acc"] == pytest.approx(autoattack.mean())
        assert figures["pgd_overstatement"] == pytest.approx(pgd.mean() - autoattack.mean())
        assert figures["autoattack_acc"] <= figures["clean_acc"] + 1 / 12  # fp32 clean pass may differ by a point

    summaries = results.load_summaries(tmp_path)
    row = summaries.iloc[0]
    assert row["pgd_overstatement_peak"] == pytest.approx(entry["peak"]["pgd_overstatement"])
    assert row["pareto_auc_pgd"] == pytest.approx(row["pareto_auc"]) or row["pareto_auc_apgd"] >= 0
    assert not calibration.gap_table_text(summaries).empty
    assert json.loads((run / "summary.json").read_text())["autoattack"] == entry


def test_peak_weights_follow_the_highest_pgd_accuracy(tmp_path):
    model = torch.nn.Linear(2, 2)
    keeper = BestWeights(tmp_path, PEAK_WEIGHTS, "adv_acc_pgd", [], model, resumed_step=None)
    for step, value in [(0, 0.1), (5, 0.3), (10, 0.3), (15, 0.2)]:
        with torch.no_grad():
            model.weight.fill_(step)
        keeper.update(model, {"step": step, "adv_acc_pgd": value})
    assert keeper.step == 5 and keeper.stored_step() == 5  # the first of equal maxima
    assert torch.all(load_file(str(tmp_path / PEAK_WEIGHTS))["weight"] == 5)
    # Resumed from a checkpoint at step 0: the stored peak (step 5) lies past it and is dropped (the replay
    # keeps it again); the model restored from that checkpoint holds step 0's weights, kept at once.
    with torch.no_grad():
        model.weight.fill_(0)
    resumed = BestWeights(tmp_path, PEAK_WEIGHTS, "adv_acc_pgd", [{"step": 0, "adv_acc_pgd": 0.1}], model,
                          resumed_step=0)
    assert resumed.step == 0 and resumed.stored_step() == 0
    assert torch.all(load_file(str(tmp_path / PEAK_WEIGHTS))["weight"] == 0)


def test_peak_key_is_the_first_pgd_attack():
    specs = [{"name": "apgd", "label": "apgd"}, {"name": "pgd", "label": "pgd15", "eps": 2 / 255}]
    assert peak_key(specs) == ("adv_acc_pgd15", "robust_pgd15", 2 / 255)
    assert peak_key([{"name": "apgd", "label": "apgd"}]) == ("adv_acc", "robust", None)


@pytest.mark.parametrize("value, match", [
    ({"size": 0}, r"final_autoattack size must be a positive integer"),
    ({"size": 64, "iterations": 5}, r"unknown autoattack option 'iterations'"),
    ({"size": 64, "targets": 5}, r"AutoAttack targets must be at most classes - 1 = 3, got 5"),
    (64, r"'final_autoattack' must be dict or NoneType"),
])
def test_bad_final_autoattack_fails_before_loading(value, match):
    with pytest.raises(RftError, match=match) as info:
        RunConfig.from_dict({"dataset": "synthetic", "dataset_options": {"num_classes": 4},
                             "final_autoattack": value})
    assert "\n" not in str(info.value)


def test_run_names_unchanged_while_off():
    base = RunConfig.from_dict({"dataset": "digits"})
    assert base.replace(final_autoattack=None).run_name() == base.run_name()
    assert base.replace(final_autoattack={"size": 64}).run_name() != base.run_name()


def test_summary_fields_without_autoattack():
    records = [{"step": 0, "clean_acc": 0.5, "adv_acc": 0.2, "adv_acc_pgd": 0.3, "adv_acc_apgd": 0.2}]
    fields = calibration.summary_fields(records, {})
    assert fields["pareto_auc_pgd"] == pytest.approx(0.15) and fields["pareto_auc_apgd"] == pytest.approx(0.1)
    assert fields["pgd_overstatement_peak"] is None and "autoattack_standard" not in fields
