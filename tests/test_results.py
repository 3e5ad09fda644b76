"""Loading run directories (config.yaml, records.jsonl, summary.json, done) into pandas frames."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from rftlib.core.errors import RftError
from rftlib.stats.pareto import pareto_auc, percent_above_average
from rftlib.analysis.results import (
    RunsLeftOut, auc_stats, auc_table, auc_table_text, find_runs, load_records, load_summaries,
)


def record(step, clean, adv, ood=None, loss=0.5):
    return dict(step=step, epoch=step / 100, lr=1e-3, train_loss=None if step == 0 else loss,
                clean_acc=clean, adv_acc=adv, ood_acc=ood, eval_seconds=1.5, train_seconds=2.0 * step)


def write_run(directory, *, strategy="lora", dataset="cifar10", seed=0, domain=None, records=(),
              tail="", summary=None, done=False, **settings):
    directory.mkdir(parents=True)
    config = dict(model="vit_base_patch16_224.orig_in21k", strategy=strategy, dataset=dataset, domain=domain,
                  seed=seed, strategy_options={"r": 8}, dataset_options={}, lr=5e-3, batch_size=128, **settings)
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    lines = [json.dumps(r) for r in records]
    (directory / "records.jsonl").write_text("".join(line + "\n" for line in lines) + tail)
    if summary is not None:
        (directory / "summary.json").write_text(json.dumps(summary))
    if done:
        (directory / "done").touch()
    return directory


FINISHED = [record(0, 0.10, 0.05), record(50, 0.80, 0.30), record(100, 0.90, 0.20), record(150, 0.95, 0.10)]


@pytest.fixture
def results(tmp_path):
    """A results tree: finished, truncated-and-unfinished and DomainNet runs, plus clutter."""
    root = tmp_path / "results"
    write_run(root / "sweep" / "lora-cifar10-s0", records=FINISHED, done=True,
              summary=dict(final=FINISHED[-1], best_adv_step=50, best_adv_acc=0.30, pareto_auc=0.25,
                           trainable_params=1000, total_params=100000, trainable_fraction=0.01, steps=150))
    # Killed mid-write: no summary, no done marker, half a record on the last line.
    write_run(root / "sweep" / "bitfit-cifar10-s1", strategy="bitfit", seed=1,
              records=[record(0, 0.10, 0.05), record(50, 0.70, 0.35)], tail='{"step": 100, "epoch": 1.0, "clea')
    write_run(root / "domainnet" / "full-dn-real-s0", strategy="full", dataset="domainnet", domain="real",
              records=[record(0, 0.01, 0.01, ood=0.01), record(50, 0.60, 0.10, ood=0.45)])
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a run")
    return root


def test_find_runs(results, tmp_path):
    runs = find_runs(results)
    assert [r.name for r in runs] == ["full-dn-real-s0", "bitfit-cifar10-s1", "lora-cifar10-s0"]
    assert runs == sorted(runs)
    # A run directory given directly counts; overlapping roots do not repeat runs.
    assert find_runs(results / "sweep" / "lora-cifar10-s0") == [results / "sweep" / "lora-cifar10-s0"]
    assert find_runs(results, results / "sweep") == runs
    assert find_runs(results / "notes") == []
    with pytest.raises(RftError, match="no such results directory"):
        find_runs(tmp_path / "missing")
    with pytest.raises(RftError):
        find_runs()


def test_load_records(results):
    with pytest.warns(UserWarning, match="unreadable last line"):
        frame = load_records(results, include_unfinished=True)
    assert list(frame.columns) == ["run", "model", "strategy", "dataset", "domain", "seed", "done", "objective", "step",
                                   "epoch", "lr", "train_loss", "train_acc", "clean_acc", "adv_acc", "ood_acc",
                                   "eval_seconds", "train_seconds"]
    assert (frame["objective"] == "standard").all()  # configs written before the field existed
    assert len(frame) == 2 + 2 + 4  # the truncated line is skipped
    counts = frame.groupby("run").size()
    assert counts["bitfit-cifar10-s1"] == 2 and counts["lora-cifar10-s0"] == 4
    assert frame["step"].dtype == np.int64 and frame["seed"].dtype == np.int64
    assert frame["done"].dtype == bool and frame["ood_acc"].dtype == np.float64
    assert pd.api.types.is_string_dtype(frame["strategy"])
    lora = frame[frame["run"] == "lora-cifar10-s0"]
    assert lora["done"].all() and lora["domain"].isna().all() and lora["ood_acc"].isna().all()
    assert lora["clean_acc"].tolist() == [0.10, 0.80, 0.90, 0.95]
    assert np.isnan(lora["train_loss"].iloc[0]) and lora["train_loss"].iloc[1] == 0.5
    dn = frame[frame["dataset"] == "domainnet"]
    assert (dn["domain"] == "real").all() and dn["ood_acc"].tolist() == [0.01, 0.45]
    assert not frame[frame["run"] == "bitfit-cifar10-s1"]["done"].any()


def test_load_records_of_one_run_and_extra_fields(tmp_path):
    run = write_run(tmp_path / "r", records=[{**record(0, 0.1, 0.1), "train_acc": 0.1, "grad_norm": 2.0}])
    frame = load_records(run, include_unfinished=True)
    assert frame["train_acc"].tolist() == [0.1]
    assert frame.columns[-1] == "grad_norm" and frame["grad_norm"].tolist() == [2.0]
    nothing = load_records(write_run(tmp_path / "none"), include_unfinished=True)  # started, no evaluation yet
    assert len(nothing) == 0 and "adv_acc" in nothing.columns
    summary = load_summaries(tmp_path / "none", include_unfinished=True).iloc[0]
    assert summary["n_evals"] == 0 and np.isnan(summary["pareto_auc"]) and not summary["done"]
    assert len(load_records(tmp_path, include_unfinished=True)) == 1


def test_corrupt_records(tmp_path):
    run = write_run(tmp_path / "bad", records=[record(0, 0.1, 0.1)], tail='garbage\n{"step": 50}\n')
    with pytest.raises(RftError, match=r"records.jsonl:2: corrupt record"):
        load_records(run, include_unfinished=True)
    run = write_run(tmp_path / "missing-field", records=[{"step": 0, "clean_acc": 0.5}], done=True)
    with pytest.raises(RftError, match="lacks adv_acc"):
        load_records(run)
    run = tmp_path / "no-seed"
    write_run(run, records=[record(0, 0.1, 0.1)])
    (run / "config.yaml").write_text(yaml.safe_dump(dict(model="m", strategy="s", dataset="d")))
    with pytest.raises(RftError, match="lacks seed"):
        load_records(run, include_unfinished=True)


def test_load_summaries(results):
    with pytest.warns(UserWarning):
        frame = load_summaries(results, include_unfinished=True)
    assert list(frame.columns[:7]) == ["run", "model", "strategy", "dataset", "domain", "seed", "done"]
    frame = frame.set_index("run")
    lora = frame.loc["lora-cifar10-s0"]
    # From summary.json (its pareto_auc differs from the records' on purpose, to see which is used).
    assert lora["done"] and lora["n_evals"] == 4 and lora["pareto_auc"] == 0.25
    assert lora["trainable_fraction"] == 0.01 and lora["best_adv_step"] == 50
    assert lora["final_clean_acc"] == 0.95 and lora["final_adv_acc"] == 0.10 and np.isnan(lora["final_ood_acc"])
    # Unfinished: computed from the records that survived.
    bitfit = frame.loc["bitfit-cifar10-s1"]
    assert not bitfit["done"] and bitfit["n_evals"] == 2 and bitfit["final_step"] == 50
    assert bitfit["best_adv_acc"] == 0.35 and bitfit["best_adv_step"] == 50
    assert bitfit["pareto_auc"] == pytest.approx(pareto_auc([(0.10, 0.05), (0.70, 0.35)])) == pytest.approx(0.245)
    assert np.isnan(bitfit["trainable_fraction"])
    full = frame.loc["full-dn-real-s0"]
    assert full["domain"] == "real" and full["final_ood_acc"] == 0.45
    assert frame["best_adv_step"].dtype == "Int64" and frame["pareto_auc"].dtype == np.float64


def test_unreadable_summary(tmp_path):
    run = write_run(tmp_path / "r", records=FINISHED)
    (run / "summary.json").write_text('{"final": ')
    with pytest.warns(UserWarning, match="unfinished"):
        auc = load_summaries(run, include_unfinished=True)["pareto_auc"].iloc[0]
        assert auc == pytest.approx(pareto_auc([(r["clean_acc"], r["adv_acc"]) for r in FINISHED]))
    (run / "done").touch()
    with pytest.raises(RftError, match="corrupt summary"):
        load_summaries(run)


def _summaries(tmp_path):
    """Two seeds per (strategy, dataset), each with one evaluation so the AUC is clean * adv."""
    points = {("bitfit", "cifar10"): [(0.8, 0.3), (0.8, 0.2)], ("lora", "cifar10"): [(0.8, 0.1), (0.8, 0.1)],
              ("bitfit", "cub200"): [(0.5, 0.2), (0.5, 0.2)], ("lora", "cub200"): [(0.5, 0.4), (0.5, 0.2)]}
    for (strategy, dataset), pts in points.items():
        for seed, (clean, adv) in enumerate(pts):
            write_run(tmp_path / f"{strategy}-{dataset}-{seed}", strategy=strategy, dataset=dataset, seed=seed,
                      records=[record(0, clean, adv)], done=True)
    return load_summaries(tmp_path)


def test_auc_table(tmp_path):
    summaries = _summaries(tmp_path)
    table = auc_table(summaries)
    assert list(table.index) == ["bitfit", "lora"] and list(table.columns) == ["cifar10", "cub200"]
    assert table.loc["bitfit", "cifar10"] == pytest.approx(0.8 * 0.25)
    assert table.loc["lora", "cub200"] == pytest.approx(0.5 * 0.3)
    pct = percent_above_average(table)
    assert pct.loc["bitfit", "cifar10"] == pytest.approx(100 * (0.20 / 0.14 - 1))
    stats = auc_stats(summaries)
    row = stats[(stats["strategy"] == "lora") & (stats["dataset"] == "cub200")].iloc[0]
    assert row["n"] == 2 and row["std"] == pytest.approx(np.std([0.2, 0.1], ddof=1))
    text = auc_table_text(summaries)
    assert text.loc["lora", "cifar10"] == "0.08 ± 0.00" and text.loc["lora", "cub200"] == "0.15 ± 0.07"
    with pytest.raises(RftError, match="lack column"):
        auc_table(summaries, by=("strategy", "datset"))
    with pytest.raises(RftError):
        auc_table(summaries, by=("strategy",))


def test_tables_use_finished_runs_only_and_say_what_they_left_out(tmp_path):
    """A diverged (failed) run at AUC 0 and a crashed (unfinished) one must not count as results."""
    write_run(tmp_path / "good", records=[record(0, 0.8, 0.3)], done=True)
    diverged = write_run(tmp_path / "diverged", records=[record(0, 0.0, 0.0)])
    (diverged / "failed").write_text("TrainingDiverged: loss is nan at step 5\n")
    write_run(tmp_path / "crashed", records=[record(0, 0.3, 0.3)])
    with pytest.warns(RunsLeftOut, match=r"left out 2 of 3 runs that did not finish \(1 failed, 1 unfinished\); "
                                         r"include_unfinished=True includes them"):
        summaries = load_summaries(tmp_path)
    assert summaries["run"].tolist() == ["good"] and summaries["status"].tolist() == ["done"]
    assert summaries.attrs["left_out"] == {"failed": ["diverged"], "unfinished": ["crashed"]}
    assert auc_table(summaries).loc["lora", "cifar10"] == pytest.approx(0.8 * 0.3)
    with pytest.warns(RunsLeftOut, match="left out 2 of 3"):
        assert load_records(tmp_path)["run"].tolist() == ["good"]
    everything = load_summaries(tmp_path, include_unfinished=True).set_index("run")
    assert everything["status"].to_dict() == {"crashed": "unfinished", "diverged": "failed", "good": "done"}


def test_auc_table_split_by_objective(tmp_path):
    for objective, auc in (("standard", 0.2), ("pgd_at", 0.4)):
        for strategy in ("lora", "bitfit"):
            write_run(tmp_path / f"{objective}-{strategy}", strategy=strategy, objective=objective,
                      records=[record(0, 0.1, 0.05)], summary={"pareto_auc": auc}, done=True)
    summaries = load_summaries(tmp_path)
    assert sorted(summaries["objective"]) == ["pgd_at", "pgd_at", "standard", "standard"]
    table = auc_table(summaries, by=("objective", "strategy", "dataset"))
    assert list(table.index) == [("pgd_at", "bitfit"), ("pgd_at", "lora"), ("standard", "bitfit"), ("standard", "lora")]
    assert table.loc[("pgd_at", "lora"), "cifar10"] == 0.4 and table.loc[("standard", "lora"), "cifar10"] == 0.2
    text = auc_table_text(summaries, by=("objective", "strategy", "dataset"))
    assert text.loc[("standard", "bitfit"), "cifar10"] == "0.20"
    with pytest.raises(RftError, match="or three"):
        auc_table(summaries, by=("objective", "strategy", "dataset", "seed"))
