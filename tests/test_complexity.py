"""rftlib.analysis.complexity: each measure on cases with known answers, the edge cases that must fail with one
line, the backbone left unchanged, and the command, the sweep's cache and the RQ2 analysis."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import torch
from scipy.optimize import minimize
from scipy.stats import multivariate_normal
from threadpoolctl import threadpool_limits

from rftlib.cli import main
from rftlib.analysis.complexity import (auc_by_task, fisher_ratio, frechet_distance, join_summaries, leep, logme,
                               measure_sweep, measure_task, paper_reading, probe_accuracy, winner_correlation)
from rftlib.analysis.complexity.analysis import PAIR_TARGET
from rftlib.analysis.complexity.cache import cache_file
from rftlib.analysis.complexity.checks import check_labelled
from rftlib.analysis.complexity.features import extract_features
from rftlib.core.errors import RftError
from rftlib.models import build_model

LABELLED = {"logme": logme, "fisher_ratio": fisher_ratio, "probe_acc": probe_accuracy}
TINY = {"img_size": 16, "patch_size": 4, "depth": 1, "embed_dim": 32, "num_heads": 2}


def blobs(n=240, d=8, k=3, spread=3.0, seed=0):
    """k Gaussian classes in d dimensions, means ``spread`` apart per coordinate on average."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % k)
    return spread * rng.standard_normal((k, d))[labels] + rng.standard_normal((n, d)), labels


def exact_gaussian_sample(mean, covariance, n, seed):
    """n points whose sample mean and covariance (ddof 1) are exactly ``mean`` and ``covariance``."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # sample covariance I
    return mean + z @ np.linalg.cholesky(covariance).T


# ---- known answers --------------------------------------------------------------------------------

def test_frechet_is_about_zero_for_two_samples_of_one_gaussian():
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]])
    a, b = (rng.multivariate_normal([1.0, -1.0, 0.0], cov, size=20000) for _ in range(2))
    far = rng.multivariate_normal([2.0, -1.0, 0.0], cov, size=20000)
    # Seeds 0-4 gave 0.0005-0.0016 for the same distribution (the finite-sample bias, ~d(d+1)/2n
    # per unit variance), against 1.0 for means one unit apart.
    assert frechet_distance(a, b) < 0.01
    assert frechet_distance(a, far) == pytest.approx(1.0, abs=0.05)


def test_frechet_matches_the_closed_form_for_known_gaussians():
    # Commuting (diagonal) covariances: d^2 = |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2.
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    sd_a, sd_b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5])
    a = exact_gaussian_sample(mean_a, np.diag(sd_a**2), 500, seed=1)
    b = exact_gaussian_sample(mean_b, np.diag(sd_b**2), 700, seed=2)
    closed = np.sum((mean_a - mean_b) ** 2) + np.sum((sd_a - sd_b) ** 2)
    assert frechet_distance(a, b) == pytest.approx(closed, rel=1e-9)
    # General covariances: the FID formula with scipy's matrix square root.
    rng = np.random.default_rng(3)
    m = rng.standard_normal((4, 4))
    cov_a, cov_b = m @ m.T + np.eye(4), np.diag([1.0, 2.0, 3.0, 4.0]) + 0.5
    a = exact_gaussian_sample(np.zeros(4), cov_a, 300, seed=4)
    b = exact_gaussian_sample(np.ones(4), cov_b, 300, seed=5)
    reference = 4.0 + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-7)


def direct_max_evidence(x, target):
    """max over (alpha, beta) of log N(target; 0, X X'/alpha + I/beta) / n, by Nelder-Mead from a grid."""
    n = len(x)

    def negative(log_params):
        alpha, beta = np.exp(np.clip(log_params, -30, 30))
        return -multivariate_normal(np.zeros(n), x @ x.T / alpha + np.eye(n) / beta).logpdf(target) / n

    starts = [(a, b) for a in (-4.0, 4.0) for b in (-2.0, 4.0)]
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend with the other test worker
        best = min((minimize(negative, s, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-13})
                    for s in starts), key=lambda r: r.fun)
    return -best.fun


@pytest.mark.parametrize("n, d", [(30, 4), (8, 12)], ids=["more-samples", "more-dimensions"])
def test_logme_is_the_maximum_of_the_evidence_formula(n, d):
    x, y = blobs(n=n, d=d, k=3, spread=1.0, seed=7)
    direct = np.mean([direct_max_evidence(x, (y == k).astype(float)) for k in range(3)])
    assert logme(x, y) == pytest.approx(direct, abs=1e-6)


def test_leep_known_answers():
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    perfect = np.eye(3)[labels]  # the upstream head names the downstream class
    assert leep(perfect, labels) == pytest.approx(0.0, abs=1e-12)
    uninformative = np.full((len(labels), 5), 0.2)  # no information: -H(y)
    p = np.bincount(labels) / len(labels)
    assert leep(uninformative, labels) == pytest.approx(np.sum(p * np.log(p)))
    with pytest.raises(RftError, match="softmax"):
        leep(np.ones((len(labels), 5)), labels)


@pytest.mark.parametrize("name", sorted(LABELLED))
def test_separated_classes_score_higher_than_shuffled_labels(name):
    x, y = blobs()
    shuffled = np.random.default_rng(1).permutation(y)
    assert LABELLED[name](x, y) > LABELLED[name](x, shuffled)
    if name == "probe_acc":  # seeds 0-4: 1.0 against 0.28-0.39 for 3 classes
        assert probe_accuracy(x, y) > 0.9 and probe_accuracy(x, shuffled) < 0.5


@pytest.mark.parametrize("name", [*sorted(LABELLED), "leep"])
def test_measures_are_invariant_to_renaming_the_classes(name):
    x, y = blobs(k=4)
    renamed = np.array([7, 2, 9, 0])[y]
    if name == "leep":
        theta = torch.softmax(torch.as_tensor(x[:, :5]), dim=1).numpy()
        assert leep(theta, renamed) == pytest.approx(leep(theta, y), abs=1e-12)
    else:
        assert LABELLED[name](x, renamed) == pytest.approx(LABELLED[name](x, y), rel=1e-9)


# ---- edge cases: one clear line -------------------------------------------------------------------

@pytest.mark.parametrize("name", [*sorted(LABELLED), "leep"])
def test_edge_cases_fail_with_one_line(name):
    function = leep if name == "leep" else LABELLED[name]
    x, y = blobs(n=30, d=5)
    x = np.abs(x) / np.abs(x).sum(axis=1, keepdims=True) if name == "leep" else x
    cases = {
        "one class": (x, np.zeros(len(x), dtype=int), "one class"),
        "NaN": (np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y, "NaN"),
        "labels": (x, y[:-1], "one integer per feature row"),
    }
    for features, labels, message in cases.values():
        with pytest.raises(RftError, match=message) as error:
            function(features, labels)
        assert "\n" not in str(error.value)
    with pytest.raises(RftError, match="5 samples for 10 classes"):
        check_labelled(x[:5], y[:5], num_classes=10)


def test_frechet_edge_cases():
    a = np.random.default_rng(0).standard_normal((10, 3))
    for b, message in ((a[:, :2], "different dimensions"), (a[:1], "at least 2 samples"),
                       (np.full((4, 3), np.inf), "NaN or infinite")):
        with pytest.raises(RftError, match=message):
            frechet_distance(a, b)


# ---- the backbone -------------------------------------------------------------------------------

@pytest.mark.slow
def test_features_are_taken_in_eval_mode_without_gradients_and_change_nothing():
    torch.manual_seed(0)
    model = build_model("vit_tiny_patch16_224", num_classes=3, pretrained=False, drop_rate=0.5, **TINY).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grad_enabled = []
    model.backbone.blocks[0].register_forward_hook(lambda *_: grad_enabled.append(torch.is_grad_enabled()))
    data = torch.utils.data.TensorDataset(torch.rand(10, 3, 16, 16), torch.arange(10) % 3)
    first = extract_features(model, data, batch_size=4, upstream_head=True)
    second = extract_features(model, data, batch_size=10)
    assert model.training  # the caller's mode is restored
    assert grad_enabled and not any(grad_enabled)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # drop_rate 0.5 would make two passes differ in training mode; in eval mode they agree.
    np.testing.assert_allclose(first.features, second.features, rtol=1e-5, atol=1e-6)
    assert first.features.shape == (10, 32) and first.upstream_probabilities.shape == (10, 3)
    np.testing.assert_allclose(first.upstream_probabilities.sum(axis=1), 1.0, atol=1e-6)


@pytest.fixture
def upstream_weights(tmp_path):
    """A tiny ViT checkpoint in timm's layout with a 5-class upstream head, and a folder of images."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = build_model("vit_tiny_patch16_224", num_classes=5, pretrained=False, **TINY)
    path = tmp_path / "upstream.safetensors"
    save_file({k: v.contiguous() for k, v in model.backbone.state_dict().items()}, str(path))
    from PIL import Image

    folder = tmp_path / "upstream_images" / "class_a"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return path, folder.parent


def tiny_task_config(weights, **changes):
    return {"model": "vit_tiny_patch16_224", "model_kwargs": TINY, "weights": weights and str(weights), "dataset": "digits",
            "device": "cpu", **changes}


def test_measure_task_on_a_tiny_backbone(upstream_weights):
    weights, images = upstream_weights
    stored = weights.read_bytes()
    result = measure_task(tiny_task_config(weights), size=60, resamples=5, upstream_sample=str(images))
    json.dumps(result)  # JSON-able
    assert weights.read_bytes() == stored
    assert result["samples"] == 60 and result["upstream_samples"] == 12 and result["feature_dim"] == 32
    for name, entry in result["measures"].items():
        assert entry["value"] is not None and math.isfinite(entry["value"]), name
        assert entry["low"] <= entry["value"] <= entry["high"], name
    # Without an upstream sample, and with a random backbone (no upstream head): unavailable, said why.
    bare = measure_task(tiny_task_config(None, pretrained=False), size=60, resamples=0)
    assert bare["measures"]["frechet"]["value"] is None and "upstream sample" in bare["measures"]["frechet"]["unavailable"]
    assert bare["measures"]["leep"]["value"] is None and "upstream head" in bare["measures"]["leep"]["unavailable"]


def test_measure_task_refuses_too_small_a_dataset_or_subset(upstream_weights):
    weights, _ = upstream_weights
    for size, message in ((100_000, "fewer than the subset of 100000"), (5, "smaller than the 10 classes")):
        with pytest.raises(RftError, match=message):
            measure_task(tiny_task_config(weights), size=size)


# ---- the command, the sweep's cache, the analysis ------------------------------------------------

@pytest.mark.slow
def test_rft_complexity_prints_a_table_and_writes_json(upstream_weights, tmp_path, capsys):
    weights, images = upstream_weights
    out = tmp_path / "measures.json"
    code = main(["complexity", "--profile", "demo", "--dataset", "digits", "--weights", str(weights),
                 "-p", f"model_kwargs={json.dumps(TINY)}", "--size", "50", "--resamples", "3",
                 "--upstream-sample", str(images), "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "logme" in printed and "leep" in printed and str(out) in printed
    assert set(json.loads(out.read_text())["measures"]) == {"logme", "fisher_ratio", "probe_acc", "frechet", "leep"}


@pytest.mark.parametrize("args, message", [
    (["--dataset", "digitz"], "unknown dataset 'digitz'"),
    (["--dataset", "digits", "--size", "1"], "at least 2 examples"),
    (["--dataset", "digits", "--seed", "-1"], "non-negative"),
    (["--dataset", "digits", "--model", "vit_nope"], "unknown timm model"),
    (["--dataset", "digits", "--weights", "/nonexistent.safetensors"], "not found"),
    (["--dataset", "digits", "--upstream-sample", "/nonexistent"], "upstream sample folder not found"),
])
def test_rft_complexity_bad_input_is_one_line(args, message, capsys):
    assert main(["complexity", "--profile", "demo", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def write_run(root, name, config, auc, done=True):
    run = root / name
    run.mkdir(parents=True)
    import yaml

    (run / "config.yaml").write_text(yaml.safe_dump({"strategy": "lora", "seed": 0, **config}))
    (run / "records.jsonl").write_text(json.dumps({"step": 0, "clean_acc": auc, "adv_acc": 1.0}) + "\n")
    if done:
        (run / "done").touch()
    return run


def test_the_sweep_measures_each_task_once_and_results_join_them(upstream_weights, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from rftlib.analysis import results

    weights, _ = upstream_weights
    config = tiny_task_config(weights)
    jobs = [SimpleNamespace(config={**config, "strategy": s, "seed": seed}) for s in ("lora", "bitfit") for seed in (0, 1)]
    sweep = SimpleNamespace(runs=[*jobs, SimpleNamespace(config=None)], root=tmp_path / "sweep")
    logged = []
    first = measure_sweep(sweep, log=logged.append, size=40, resamples=2)
    assert list(first) == [cache_file(sweep.root, config)] and len(logged) == 1 and "digits" in logged[0]
    # Cached: a second sweep measures nothing.
    monkeypatch.setattr("rftlib.analysis.complexity.cache.measure_task", lambda *a, **k: pytest.fail("measured again"))
    assert measure_sweep(sweep, log=logged.append, size=40, resamples=2) == first
    write_run(sweep.root, "a", {**config, "strategy": "lora"}, auc=0.5)
    write_run(sweep.root, "b", {**config, "dataset": "synthetic"}, auc=0.5)  # no measures cached
    joined = join_summaries(results.load_summaries(sweep.root)).set_index("run")
    assert joined.loc["a", "logme"] == pytest.approx(first[cache_file(sweep.root, config)]["measures"]["logme"]["value"])
    assert joined.loc["a", "task"] == "digits" and math.isnan(joined.loc["b", "logme"])
    # The same dataset under other weights is another task: the names say so.
    write_run(sweep.root, "c", {**config, "weights": "other.safetensors"}, auc=0.5)
    joined = join_summaries(results.load_summaries(sweep.root)).set_index("run")
    assert joined.loc["a", "task"].startswith("digits (") and joined.loc["a", "task"] != joined.loc["c", "task"]


def analysis_frame(measure_values, gaps, unfinished=()):
    """Joined summaries for tasks t0, t1, ...: bitfit's AUC minus compacter's is ``gaps[i]`` on task i."""
    rows = []
    for i, (value, gap) in enumerate(zip(measure_values, gaps)):
        for strategy, auc in (("bitfit", 0.5 + gap / 2), ("compacter", 0.5 - gap / 2), ("lora", 0.5)):
            for seed in (0, 1):
                rows.append(dict(task=f"t{i}", strategy=strategy, seed=seed, done=(i, strategy) not in unfinished,
                                 pareto_auc=auc + 0.01 * seed, logme=value, logme_low=value - 0.1, logme_high=value + 0.1,
                                 fisher_ratio=np.nan, probe_acc=np.nan, frechet=-value, leep=np.nan))
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_rank_correlation_and_the_papers_reading():
    simple_favours_bitfit = analysis_frame([0.1, 0.5, 0.2, 0.9, 0.7, 0.3], [-0.2, 0.1, -0.1, 0.3, 0.2, 0.0])
    corr = winner_correlation(simple_favours_bitfit, seed=0, resamples=200)
    pair = corr[corr["target"] == PAIR_TARGET].set_index("measure")
    assert pair.loc["logme", "rho"] == pytest.approx(1.0) and pair.loc["logme", "low"] > 0
    assert pair.loc["frechet", "rho"] == pytest.approx(-1.0) and pair.loc["frechet", "high"] < 0
    assert corr.equals(winner_correlation(simple_favours_bitfit, seed=0, resamples=200))  # seeded
    assert "holds" in paper_reading(corr)
    reversed_gaps = analysis_frame([0.1, 0.5, 0.2, 0.9, 0.7, 0.3], [0.2, -0.1, 0.1, -0.3, -0.2, 0.0])
    assert "contradicted" in paper_reading(winner_correlation(reversed_gaps, seed=0, resamples=200))
    two_tasks = analysis_frame([0.1, 0.5], [0.1, -0.1])
    assert "cannot be read on 2 task(s)" in paper_reading(winner_correlation(two_tasks, resamples=50))
    # Unfinished runs are left out of the AUC means.
    per_task = auc_by_task(analysis_frame([0.1], [0.2], unfinished={(0, "bitfit")}))
    assert "bitfit" not in set(per_task["strategy"])


def test_the_subset_is_seeded_and_holds_every_class_in_proportion():
    from rftlib.analysis.complexity.features import seeded_subset
    from rftlib.data import TensorImageDataset

    labels = np.r_[np.zeros(50), np.ones(30), np.full(20, 2)].astype(int)
    data = TensorImageDataset(torch.zeros(100, 3, 2, 2), labels, 2)
    subset = seeded_subset(data, 10, seed=3, what="data")
    assert np.bincount(subset.labels).tolist() == [5, 3, 2]
    assert np.array_equal(subset.labels, seeded_subset(data, 10, seed=3, what="data").labels)
    with pytest.raises(RftError, match="data has 100 examples, fewer than the subset of 101"):
        seeded_subset(data, 101, seed=0, what="data")
