"""rftlib.analysis.uncertainty: trade-off verdicts, per-evaluation intervals, AUC intervals, ranking stability;
runs with and without per-sample outcomes."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from rftlib import stats
from rftlib.analysis import uncertainty
from rftlib.runs.outcomes import write_outcomes
from rftlib.analysis.results import distinguish_datasets, load_records, load_summaries


def outcomes_with(accuracies, n=250, seed=0):
    """{step: {"clean": ..., "robust": ...}} whose robust accuracies are exactly the given ones, the
    robust points of each step nested in those of the step with more (so outcomes correlate)."""
    order = np.random.default_rng(seed).permutation(n)
    result = {}
    for step, (clean, robust) in accuracies.items():
        c, r = np.zeros(n, bool), np.zeros(n, bool)
        c[order[: round(clean * n)]] = True
        r[order[: round(robust * n)]] = True
        result[step] = {"clean": c, "robust": r}
    return result


def records_of(accuracies):
    return [dict(step=s, clean_acc=c, adv_acc=r) for s, (c, r) in accuracies.items()]


FALLING = {0: (0.10, 0.08), 50: (0.70, 0.60), 100: (0.85, 0.45), 200: (0.95, 0.30)}
FLAT = {0: (0.10, 0.08), 50: (0.70, 0.62), 100: (0.72, 0.60), 200: (0.72, 0.61)}
STEADY = {0: (0.10, 0.08), 50: (0.80, 0.70), 100: (0.82, 0.69), 200: (0.83, 0.70)}  # a higher AUC than FALLING


def test_tradeoff_summary_from_paired_outcomes():
    summary = uncertainty.tradeoff_summary(records_of(FALLING), outcomes_with(FALLING))
    assert (summary["peak_step"], summary["final_step"]) == (50, 200)
    assert summary["drop"] == pytest.approx(0.30) and summary["method"] == "paired outcomes" and summary["n"] == 250
    assert 0 < summary["drop_low_adjusted"] < summary["drop_low"] < 0.30 < summary["drop_high"]
    assert summary["verdict"] == "trade-off" and summary["clean_change_low"] > 0
    flat = uncertainty.tradeoff_summary(records_of(FLAT), outcomes_with(FLAT))
    assert flat["drop"] == pytest.approx(0.01) and flat["drop_low_adjusted"] < 0 and flat["verdict"] == "none"
    assert "verdict: none" in uncertainty.verdict_text(flat) and "paired per-sample outcomes" in uncertainty.verdict_text(flat)


def test_tradeoff_summary_from_counts_is_wider_and_unknown_without_a_size():
    paired = uncertainty.tradeoff_summary(records_of(FALLING), outcomes_with(FALLING))
    counts = uncertainty.tradeoff_summary(records_of(FALLING), n=250)
    assert counts["method"] == "counts" and counts["verdict"] == "trade-off"
    assert counts["drop_high"] - counts["drop_low"] > paired["drop_high"] - paired["drop_low"]
    unknown = uncertainty.tradeoff_summary(pd.DataFrame(records_of(FALLING)))
    assert unknown["verdict"] == "unknown" and np.isnan(unknown["drop_low"])
    assert "no interval" in uncertainty.verdict_text(unknown)
    # A run whose last evaluation is its most robust has no drop at all.
    rising = {0: (0.1, 0.1), 50: (0.5, 0.4), 100: (0.8, 0.6)}
    assert uncertainty.tradeoff_summary(records_of(rising), n=250)["verdict"] == "none"


def write_old_run(directory, strategy, seed, accuracies, eval_size=250, dataset="digits"):
    """A run directory as written before per-sample outcomes existed: config and records only."""
    directory.mkdir(parents=True)
    config = dict(model="vit_tiny_patch16_224", strategy=strategy, dataset=dataset, domain=None, seed=seed,
                  eval_size=eval_size)
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    lines = [json.dumps(dict(step=s, clean_acc=c, adv_acc=r, ood_acc=None)) for s, (c, r) in accuracies.items()]
    (directory / "records.jsonl").write_text("".join(line + "\n" for line in lines))
    (directory / "done").touch()


@pytest.fixture
def old_runs(tmp_path):
    for seed in (0, 1, 2):
        shift = 0.01 * seed
        write_old_run(tmp_path / f"full_s{seed}", "full", seed, {k: (c, r - shift) for k, (c, r) in FALLING.items()})
        write_old_run(tmp_path / f"lora_s{seed}", "lora", seed, {k: (c, r + shift) for k, (c, r) in STEADY.items()})
        write_old_run(tmp_path / f"bitfit_s{seed}", "bitfit", seed, {k: (c, r + shift) for k, (c, r) in STEADY.items()})
    return tmp_path


def test_old_runs_without_outcomes_still_load_and_get_intervals_from_counts(old_runs):
    summaries = load_summaries(old_runs)
    table = uncertainty.tradeoff_table(summaries)
    assert len(table) == 9 and set(table["method"]) == {"counts"}
    assert set(table.loc[table["strategy"] == "full", "verdict"]) == {"trade-off"}
    assert set(table.loc[table["strategy"] == "lora", "verdict"]) == {"none"}
    frame = uncertainty.with_intervals(load_records(old_runs), summaries)
    row = frame.iloc[1]
    low, high = stats.wilson_interval(round(row["adv_acc"] * 250), 250)
    assert (row["adv_acc_low"], row["adv_acc_high"]) == pytest.approx((low, high))
    assert frame["ood_acc_low"].isna().all()  # no OOD split, no interval
    aucs = uncertainty.auc_intervals(summaries)
    assert list(aucs["n"]) == [3, 3, 3] and (aucs["low"] < aucs["mean"]).all() and (aucs["mean"] < aucs["high"]).all()


def test_bootstrap_ranking_is_deterministic_and_finds_ties(old_runs):
    summaries = load_summaries(old_runs)
    boot = uncertainty.bootstrap_aucs(summaries, replicates=200, seed=7)
    again = uncertainty.bootstrap_aucs(summaries, replicates=200, seed=7)
    other = uncertainty.bootstrap_aucs(summaries, replicates=200, seed=8)
    pd.testing.assert_frame_equal(boot, again)
    assert not boot["auc"].equals(other["auc"])
    stability = uncertainty.ranking_stability(boot, summaries).iloc[0]
    # lora and bitfit have identical runs: they tie, share the wins and cannot be told apart.
    assert stability["leaders"] == ["bitfit", "lora"] and stability["best"] == "bitfit"
    assert stability["indistinguishable"] == ["lora"] and stability["shares"].get("full", 0.0) == 0.0
    assert stability["shares"]["lora"] == pytest.approx(0.5, abs=0.1)  # counts only: drawn independently
    above = uncertainty.percent_above_average_intervals(boot, summaries).set_index("strategy")
    assert above.loc["full", "high"] < 0 < above.loc["lora", "low"]
    assert (above["low"] <= above["percent"]).all() and (above["percent"] <= above["high"]).all()
    text = uncertainty.ranking_text(uncertainty.ranking_stability(boot, summaries))
    assert "bitfit, lora tie for the highest AUC" in text and "cannot be told apart (95%) from lora" in text


def test_bootstrap_pairs_points_across_strategies_with_outcomes(old_runs):
    """With per-sample outcomes, the same resampled points are used for every strategy of a seed."""
    by_name = {"full": FALLING, "lora": STEADY, "bitfit": STEADY}
    for run in old_runs.iterdir():
        for step, flags in outcomes_with(by_name[run.name.split("_")[0]]).items():
            write_outcomes(run, step, flags)
    summaries = load_summaries(old_runs)
    boot = uncertainty.bootstrap_aucs(summaries, replicates=100, seed=0)
    wide = boot.pivot(index="replicate", columns="strategy", values="auc")
    # lora and bitfit have identical outcomes, so paired resampling gives identical AUCs every time.
    assert np.array_equal(wide["lora"].to_numpy(), wide["bitfit"].to_numpy())
    assert wide["lora"].std() > 0
    shares = uncertainty.ranking_stability(boot, summaries).iloc[0]["shares"]
    assert shares == {"bitfit": 0.5, "lora": 0.5, "full": 0.0}  # exact ties every time: shared credit
    table = uncertainty.tradeoff_table(summaries)
    assert set(table["method"]) == {"paired outcomes"}
    bands, verdict = uncertainty.run_tradeoff(old_runs / "full_s0")
    assert verdict["method"] == "paired outcomes" and verdict["n"] == 250
    assert bands["adv_acc_low"].notna().all() and bands["ood_acc_low"].isna().all()


def test_accuracy_intervals_use_each_accuracys_own_size():
    row = dict(step=0, train_acc=0.9, clean_acc=0.5, adv_acc=0.2, adv_acc_apgd=0.25, ood_acc=0.4, fog_acc=0.3)
    frame = uncertainty.accuracy_intervals([row], {"clean": 100, "ood": 400, "fog": 50})
    expected = {"clean_acc": (50, 100), "adv_acc": (20, 100), "adv_acc_apgd": (25, 100), "ood_acc": (160, 400),
                "fog_acc": (15, 50)}
    for metric, (k, n) in expected.items():
        assert (frame[f"{metric}_low"][0], frame[f"{metric}_high"][0]) == pytest.approx(stats.wilson_interval(k, n))
    assert "train_acc_low" not in frame


def test_runs_of_one_dataset_under_other_options_become_datasets_of_their_own(tmp_path):
    for strength in (4.0, 0.0):
        run = tmp_path / f"fm{strength}"
        write_old_run(run, "full", 0, FALLING, dataset="feature_model")
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["dataset_options"] = {"nonrobust_strength": strength, "train_size": 3000}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    write_old_run(tmp_path / "digits", "full", 0, FALLING)
    summaries = load_summaries(tmp_path)
    named = distinguish_datasets(summaries, summaries)
    assert sorted(named["dataset"]) == ["digits", "feature_model[nonrobust_strength=0.0]",
                                        "feature_model[nonrobust_strength=4.0]"]
    assert set(distinguish_datasets(load_records(tmp_path), summaries)["dataset"]) == set(named["dataset"])
