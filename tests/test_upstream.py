import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rftlib import build_model
from rftlib.sweep.jobs import Job
from rftlib.sweep.launch import run_local
from rftlib.sweep.upstreams import missing_upstreams, upstream_key
from rftlib.core.errors import RftError
from rftlib.training.params import resolve
from rftlib.training.upstream import cached_weights, pretrain, upstream_run

TINY_RUN = Path(__file__).resolve().parent / "notebooks" / "tiny_run.ipynb"


def test_pretrained_backbone_is_cached_and_loads_into_a_new_head(tmp_path):
    options = dict(steps=3, batch_size=16, output_dir=str(tmp_path),
                   dataset_options={"num_classes": 5, "train_size": 64, "test_size": 32})
    path = pretrain(progress=False, **options)
    assert path.name == "backbone.safetensors" and path.exists()
    assert pretrain(progress=False, **options) == path  # cached: same file, not retrained
    assert path.stat().st_mtime_ns == pretrain(progress=False, **options).stat().st_mtime_ns

    saved = load_file(path)
    assert saved["head.weight"].shape[0] == 5 and not any(k.startswith("backbone.") for k in saved)
    model = build_model("vit_tiny_patch16_224", num_classes=3, weights=str(path),
                        img_size=16, patch_size=4, depth=2, embed_dim=96)
    state = model.backbone.state_dict()
    assert torch.equal(state["blocks.1.mlp.fc2.weight"], saved["blocks.1.mlp.fc2.weight"])
    assert state["head.weight"].shape[0] == 3  # the downstream head is new


def test_a_plain_upstream_keeps_its_cached_name():
    """Adding the objective to the upstream left the plain backbone's run (and so its cached file) where it
    was: the demo's default upstream is still synthetic_full_s1234_1d88b68f."""
    run_config, run_dir = upstream_run(output_dir="somewhere")
    assert run_dir.name == "synthetic_full_s1234_1d88b68f" and run_config.objective == "standard"


def test_a_robust_upstream_is_its_own_pretraining_run_attacked_at_its_radius():
    eps = 8 / 255
    plain = upstream_run()[1]
    pgd, pgd_dir = upstream_run(objective="pgd_at", objective_options={"eps": eps, "steps": 3})
    trades_dir = upstream_run(objective="trades", objective_options={"eps": eps, "steps": 3})[1]
    smaller_dir = upstream_run(objective="pgd_at", objective_options={"eps": eps / 2, "steps": 3})[1]
    assert len({plain, pgd_dir, trades_dir, smaller_dir}) == 4  # never one cached file for two objectives
    assert pgd.objective == "pgd_at" and pgd.objective_options["eps"] == eps
    assert pgd.attack["eps"] == eps  # its records say how robust it came out at the radius it trained for


@pytest.mark.parametrize("options, message", [
    (dict(objective="adversarial"), "unknown objective"),
    (dict(objective="standard", objective_options={"eps": 0.03}), "takes no options"),
    (dict(objective="pgd_at", objective_options={"eps": 2.0}), "at most 1"),
])
def test_a_bad_upstream_objective_is_one_line_before_anything_trains(options, message):
    with pytest.raises(RftError, match=message):
        upstream_run(**options)
    with pytest.raises(RftError, match="^upstream: "):  # a sweep refuses it when it is loaded
        resolve("demo", strategy="full", dataset="digits", upstream=options)


def test_a_robust_upstream_pretrains_adversarially(tmp_path):
    options = dict(steps=2, batch_size=8, output_dir=str(tmp_path), objective="pgd_at",
                   objective_options={"eps": 8 / 255, "steps": 1},
                   model_kwargs={"img_size": 8, "patch_size": 4, "depth": 1, "embed_dim": 32, "num_heads": 2},
                   dataset_options={"num_classes": 3, "train_size": 32, "test_size": 16})
    path = pretrain(progress=False, **options)
    config = (path.parent / "config.yaml").read_text()
    assert "objective: pgd_at" in config and cached_weights(**options) == path
    assert cached_weights(**{**options, "objective": "trades"}) is None

@pytest.mark.slow
def test_the_local_launcher_pretrains_each_upstream_in_a_worker_before_the_runs_that_need_it(tmp_path):
    """A sweep's upstream backbones are pretrained in worker processes with the runs' thread count;
    a run starts only once its own upstream exists, one whose upstream failed fails with that line
    without running, and a run without an upstream does not wait."""
    good = dict(steps=3, batch_size=16, output_dir=str(tmp_path / "upstream"),
                model_kwargs={"img_size": 8, "patch_size": 4, "depth": 1, "embed_dim": 32, "num_heads": 2},
                dataset_options={"num_classes": 5, "train_size": 64, "test_size": 32})
    bad = {**good, "steps": 0}  # passes the dataclass, refused when the pretraining run is configured

    def job(i, upstream):
        run_dir = tmp_path / f"run{i}"
        return Job(name=f"run{i}", notebook=TINY_RUN, output=run_dir / "notebook.ipynb",
                   parameters={"x": i, "run_dir": str(run_dir)}, kernel="rftlib", cwd=tmp_path,
                   requires=("done",), config={"upstream": upstream})

    jobs = [job(0, good), job(1, bad), job(2, None)]
    upstreams = {upstream_key(u): u for u in (good, bad)}
    outcomes = {o["name"]: o for o in run_local(jobs, n_jobs=2, threads=1, upstreams=upstreams)}

    assert outcomes["run0"]["status"] == "done" and outcomes["run2"]["status"] == "done"
    assert outcomes["run1"]["status"] == "failed" and not jobs[1].output.exists()  # never started
    assert outcomes["run1"]["error"].startswith("upstream pretraining failed: ") and "max_steps" in outcomes["run1"]["error"]
    weights = cached_weights(**good)
    assert weights is not None and missing_upstreams([good]) == {}
    assert weights.stat().st_mtime_ns < (tmp_path / "run0" / "result.json").stat().st_mtime_ns
    numerics = json.loads((weights.parent / "numerics.json").read_text())
    assert numerics["threads"] == 1  # the sweep's threads, not the driver machine's cores
