"""rft bench: the CI-sized run prints its tables and writes a sane record; the sweep's cost hook.

No assertion here is about speed: timings on a shared CI machine prove nothing. BENCHMARKS.md holds
the measured figures.
"""
import contextlib
import io
import json
import math

import pytest
import torch

from rftlib.bench import estimate_run_seconds
from rftlib.bench.pgd import REFERENCE, VARIANTS
from rftlib.bench.report import format_result, targets
from rftlib.bench.timing import Peer, time_peers
from rftlib.cli import main
from rftlib.strategies import STRATEGIES
from worker_shared import made_once

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _run(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(argv)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``rft bench --quick --compile`` run on CPU. torch.compile is replaced by the identity so
    the compile rows' plumbing is exercised in seconds (the compiler itself is what the real
    benchmark measures)."""
    with made_once(tmp_path_factory, "bench-quick") as (folder, done):  # once for both xdist workers
        path, printed = folder / "bench.json", folder / "printed.json"
        if not done:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(torch, "compile", lambda model, **kwargs: model)
                printed.write_text(json.dumps(_run(["bench", "--quick", "--compile", "--device", "cpu",
                                                    "--json", str(path)])))
    status, out = json.loads(printed.read_text())
    return status, out, json.loads(path.read_text())


def test_quick_bench_prints_every_row(quick):
    status, out, _ = quick
    assert status == 0
    for variant in VARIANTS:
        assert variant.name in out
    for strategy in STRATEGIES:
        assert f"{strategy} fp32" in out
    assert "targets:" in out and "CPU: rftlib fp32 PGD / torchattacks fp32 PGD" in out


def test_quick_bench_record_is_sane(quick):
    _, _, record = quick
    assert {"schema", "config", "environment", "peak", "pgd", "train", "targets"} <= set(record)
    assert record["config"]["quick"] and record["config"]["device"] == "cpu"
    assert record["environment"]["torch"] == torch.__version__ and record["environment"]["torchattacks"]
    assert record["peak"]["flops_per_s"] > 0

    rows = {row["name"]: row for row in record["pgd"]}
    assert list(rows) == [v.name for v in VARIANTS]
    for variant in VARIANTS:
        row = rows[variant.name]
        if variant.cuda_only:
            assert row["status"] == "skipped"
            continue
        assert row["status"] == "ok", row
        assert row["images_per_s"] > 0 and row["seconds"] > 0 and row["speedup"] > 0
        assert 0.0 <= row["robust_acc"] <= 1.0 and 0.0 <= row["clean_acc"] <= 1.0
        if row["precision"] == "fp32":
            assert row["clean_acc"] == 1.0  # the labels are the model's own fp32 predictions
        assert row["flops_per_image"] > 0
        assert (row["flops_per_s"] is None) == variant.early_stop
    assert rows[REFERENCE]["speedup"] == 1.0
    # Same random start, fp32, same steps: rftlib's iterates are torchattacks' (sum vs mean loss
    # only rescales the gradient, whose sign is all PGD uses).
    assert rows["rftlib fp32"]["robust_acc"] == rows[REFERENCE]["robust_acc"]

    train = record["train"]
    eager = [row for row in train if row["compile"] is None]
    assert [row["strategy"] for row in eager] == list(STRATEGIES)  # one row per strategy
    assert [row["name"] for row in train if row["compile"]] == ["full fp32 +compile"]
    for row in train:
        assert row["status"] == "ok", row
        assert row["images_per_s"] > 0 and 0 < row["trainable_params"] <= row["total_params"]
        assert row["flops_per_image"] > 0 and row["flops_per_s"] > 0 and row["peak_fraction"] > 0
    by_name = {row["name"]: row for row in train}
    assert by_name["full fp32"]["trainable_params"] == by_name["full fp32"]["total_params"]
    # Training counts weight gradients, the attack does not: a full step costs more than a probe's.
    assert by_name["full fp32"]["flops_per_image"] > by_name["linear_probe fp32"]["flops_per_image"]

    # The remedies' rows: L2-SP keeps a copy of the trainable weights but the head's (4 bytes each in fp32); the eps-schedule's clean phase runs no attack; at full eps it is the pgd_at step.
    remedies = {row["name"]: row for row in record["remedies"]}
    assert all(remedies[n]["status"] == "ok" and remedies[n]["x_plain"] > 0 for n in remedies if remedies[n]["kind"] == "timed")
    trainable = by_name["full fp32"]["trainable_params"]  # the copy leaves out the head (a few hundred)
    assert 0.99 * 4 * trainable < remedies["l2_sp"]["extra_bytes"] < 4 * trainable
    assert remedies["eps_schedule (at full eps)"]["x_plain"] > remedies["eps_schedule (clean phase)"]["x_plain"]
    assert {"robust_val", "wise_ft", "lp_ft"} <= set(remedies)

    target = record["targets"][0]  # then the APGD and whole-evaluation targets
    assert target["row"] == "rftlib fp32" and target["threshold"] == 1.0 and target["met"] in (True, False)


def test_a_failing_peer_is_reported_not_raised():
    def broken():
        raise RuntimeError("no C compiler\nlong trace")

    ok, bad = time_peers([Peer("ok", lambda: None), Peer("bad", broken)], repeats=2, device=torch.device("cpu"))
    assert len(ok.times) == 2 and ok.error is None
    assert bad.times == [] and bad.error == "RuntimeError: no C compiler"


@pytest.mark.parametrize("argv, message", [
    (["--eps", "2"], "--eps must be in (0, 1]"),
    (["--eps", "one"], "--eps must be a number"),
    (["--batch", "0"], "at least 1"),
    (["--train-precision", "fp16"], "--train-precision takes"),
    (["--model-option", "depth"], "KEY=VALUE"),
])
def test_bad_options_are_one_line_errors(argv, message, capsys):
    assert main(["bench", "--quick", "--device", "cpu", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_asked_for_without_cuda(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def _pgd_row(name, ips, delta, peak_fraction, library="rftlib", **fields):
    return {"name": name, "library": library, "status": "ok", "early_stop": False, "lever": "", "peer": None,
            "precision": "bf16", "compile": None, "images_per_s": ips, "speedup": ips / 40.0, "clean_acc": 1.0,
            "robust_acc": 0.5 + delta, "robust_acc_delta": delta, "flops_per_s": 1.0, "peak_fraction": peak_fraction,
            **fields}


def test_gpu_targets_are_judged_on_the_fastest_accurate_row():
    """The GPU branch of the targets, on a made-up CUDA record (no GPU needed)."""
    record = {
        "config": {"device": "cuda", "model": "vit_base_patch16_224", "model_kwargs": {}, "steps": 15, "batch": 256,
                   "eps": 1 / 255, "alpha": 0.25 / 255, "repeats": 5, "train_batch": 128},
        "environment": {"gpu": "H100", "cpu": "x", "torch": "2", "torch_threads": 16},
        "peak": {"flops_per_s": 7e14, "what": "bf16 matmul 8192x8192x8192"},
        "pgd": [_pgd_row(REFERENCE, 40.0, 0.0, 0.05, library="torchattacks", precision="fp32"),
                _pgd_row("rftlib bf16", 250.0, -0.005, 0.45),
                _pgd_row("rftlib bf16 +compile", 300.0, 0.004, 0.55),
                _pgd_row("rftlib bf16 +compile +CUDA graphs", 320.0, -0.03, 0.58),  # fastest, but 3 points off
                _pgd_row("rftlib bf16, early stop", 900.0, -0.2, None, early_stop=True, lever="early stop")],
        "train": [{"name": "full bf16", "strategy": "full", "precision": "bf16", "status": "ok", "images_per_s": 1.0,
                   "trainable_params": 1, "flops_per_image": 1e9, "peak_fraction": 0.35},
                  {"name": "full bf16 +compile", "strategy": "full", "precision": "bf16", "status": "ok",
                   "images_per_s": 2.0, "trainable_params": 1, "flops_per_image": 1e9, "peak_fraction": 0.42}],
    }
    record["targets"] = targets(record)
    accuracy, speedup, peak, full = record["targets"]
    assert {t["row"] for t in (accuracy, speedup, peak)} == {"rftlib bf16 +compile"}
    assert accuracy["met"] and speedup["value"] == 7.5 and speedup["met"] and peak["met"]
    assert full["row"] == "full bf16 +compile" and full["met"]
    assert "GPU: PGD fraction of the bf16 peak: 0.550" in format_result(record)


# ---- the sweep's cost hook --------------------------------------------------------------------

TINY = {"img_size": 32, "patch_size": 4}


def _record(**config):
    """A bench record measured on CPU: PGD-15 at 10 images/s in fp32, fine-tuning at 100 images/s."""
    return {
        "config": {"model": "vit_tiny_patch16_224", "model_kwargs": TINY, "device": "cpu", "steps": 15,
                   "quick": False, **config},
        "pgd": [{"name": "rftlib fp32", "status": "ok", "compile": None, "images_per_s": 10.0}],
        "train": [{"name": f"{s} fp32", "strategy": s, "precision": "fp32", "status": "ok", "compile": None,
                   "images_per_s": 100.0} for s in STRATEGIES],
    }


def _run_config(**changes):
    return {"model": "vit_tiny_patch16_224", "model_kwargs": TINY, "pretrained": False, "strategy": "lora",
            "dataset": "synthetic", "dataset_options": {"train_size": 1000, "test_size": 100},
            "val_fraction": 0.1, "batch_size": 100, "max_steps": 20, "schedule": [[20, 10]],
            "eval_size": 50, "device": "cpu", **changes}


def test_estimate_adds_training_and_evaluation():
    seconds = estimate_run_seconds(_run_config(), _record())
    training = 20 * 100 / 100.0
    attack = 1 / 10.0  # PGD-15 at 10 images/s, the run's attack is PGD-15 too
    forward = attack / 15 / 2
    evaluations = 3  # steps 0, 10, 20
    assert math.isclose(seconds, training + evaluations * 50 * (attack + 2 * forward))


def test_estimate_counts_epochs_from_the_split_and_scales_attack_steps():
    few = estimate_run_seconds(_run_config(max_steps=None, epochs=1, attack={"steps": 5}), _record())
    more = estimate_run_seconds(_run_config(max_steps=None, epochs=2, attack={"steps": 5}), _record())
    assert 0 < few < more


@pytest.mark.parametrize("config, record", [
    (_run_config(model="vit_small_patch16_224"), _record()),   # another model
    (_run_config(model_kwargs={"img_size": 64, "patch_size": 4}), _record()),
    (_run_config(device="cuda"), _record()),                   # measured on another device
    (_run_config(precision="bf16"), _record()),                # a precision not measured
    (_run_config(), _record(quick=True)),                      # CI-sized figures are not estimates
    (_run_config(dataset="cifar10", max_steps=None), {**_record(), "train": []}),
])
def test_estimate_is_none_when_it_cannot_tell(config, record):
    assert estimate_run_seconds(config, record) is None


def test_estimate_without_a_record_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("RFT_BENCH_JSON", str(tmp_path / "missing.json"))
    assert estimate_run_seconds(_run_config()) is None


def test_estimate_knows_the_paper_datasets_without_downloading():
    paper = _run_config(dataset="cifar10", dataset_options={}, max_steps=None, epochs=3, batch_size=128,
                        eval_size="all", schedule="paper")
    seconds = estimate_run_seconds(paper, _record())
    steps = 3 * math.ceil(45_000 / 128)
    assert seconds > steps * 128 / 100.0 + 10_000 / 10.0  # training plus at least one full-split PGD


@needs_cuda
@pytest.mark.gpu
def test_quick_bench_on_cuda(tmp_path):
    path = tmp_path / "bench.json"
    status, out = _run(["bench", "--quick", "--device", "cuda", "--json", str(path)])
    assert status == 0
    record = json.loads(path.read_text())
    rows = {row["name"]: row for row in record["pgd"]}
    assert rows["rftlib tf32"]["status"] == "ok" and rows["rftlib bf16"]["images_per_s"] > 0
    assert record["peak"]["dtype"] == "bfloat16"
    assert {t["target"].split(":")[0] for t in record["targets"]} == {"GPU"}


def test_quick_bench_prices_each_training_objective(quick):
    _, out, record = quick
    rows = {row["name"]: row for row in record["objectives"]}
    assert list(rows) == ["standard fp32", "pgd_at fp32", "trades fp32"]
    assert all(row["status"] == "ok" and row["images_per_s"] > 0 for row in rows.values())
    assert rows["standard fp32"]["x_standard"] == 1.0 and rows["pgd_at fp32"]["attack_steps"] == 2
    assert "fine-tuning step by objective" in out and "trades fp32" in out


def test_estimate_prices_the_objective_and_the_corruptions():
    record = {**_record(), "objectives": [
        {"objective": "pgd_at", "precision": "fp32", "status": "ok", "attack_steps": 10, "x_standard": 6.0}]}
    base = estimate_run_seconds(_run_config(), record)
    training = 20 * 100 / 100.0
    # pgd_at with 5 training-attack steps: half the benchmark's attack part, 1 + (6 - 1) / 2 standard steps.
    adversarial = estimate_run_seconds(_run_config(objective="pgd_at", objective_options={"steps": 5}), record)
    assert math.isclose(adversarial - base, training * 2.5)
    assert estimate_run_seconds(_run_config(objective="trades"), record) is None  # not measured
    forward = 1 / 10.0 / 15 / 2
    corrupted = estimate_run_seconds(_run_config(corruptions={"names": ["fog", "snow"], "size": 20}), record)
    assert math.isclose(corrupted - base, 3 * 20 * 2 * forward)  # 3 evaluations x 20 images x 2 corruptions


def test_quick_bench_has_the_apgd_and_evaluation_rows(quick):
    _, out, record = quick
    apgd = {row["name"]: row for row in record["apgd"]}
    assert set(apgd) == {"pyautoattack APGD-CE", "rftlib APGD-CE", "pyautoattack APGD-T", "rftlib APGD-T"}
    assert all(row["status"] == "ok" and 0 <= row["robust_acc"] <= 1 for row in apgd.values())
    assert apgd["rftlib APGD-T"]["peer"] == "pyautoattack APGD-T" and apgd["rftlib APGD-T"]["speedup"] > 0
    evaluation = {row["name"]: row for row in record["evaluation"]}
    ours = evaluation["rftlib Evaluator (clean-correct points only)"]
    assert ours["status"] == "ok" and ours["clean_acc"] == pytest.approx(record["config"]["eval_clean_acc"])
    assert ours["robust_acc"] <= ours["clean_acc"] and "robust_acc_delta" in ours
    assert "APGD, 4 iterations" in out and "one whole evaluation" in out
    assert {t["target"] for t in record["targets"]} >= {"CPU: rftlib APGD-CE / pyautoattack's",
                                                        "CPU: whole evaluation / naive evaluation at clean accuracy 0.5"}


def test_quick_bench_has_the_threat_rows(quick):
    _, out, record = quick
    threat = {row["name"]: row for row in record["threat"]}
    assert set(threat) == {"torchattacks PGDL2", "rftlib PGD L2", "naive: every point at every radius",
                           "rftlib curve (survivors only)"}
    assert all(row["status"] == "ok" and 0 <= row["robust_acc"] <= 1 for row in threat.values())
    # The same random start and iterates as torchattacks (to float rounding): at most one of the 4 points apart.
    assert abs(threat["rftlib PGD L2"]["robust_acc_delta"]) <= 0.25 and threat["rftlib PGD L2"]["speedup"] > 0
    curve = threat["rftlib curve (survivors only)"]
    assert curve["curve"] == sorted(curve["curve"], reverse=True) and len(curve["radii"]) == 4
    assert "threat models: PGD-3 L2" in out
    assert {t["target"] for t in record["targets"]} >= {"CPU: rftlib PGD L2 / torchattacks PGDL2"}
