import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rftlib import build_model
from rftlib.sweep.jobs import Job
from rftlib.sweep.launch import run_local
from rftlib.sweep.upstreams import missing_upstreams, upstream_key
from rftlib.training.upstream import cached_weights, pretrain

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
