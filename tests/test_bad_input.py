"""Bad input gets one line, before anything loads or is written, the same in `rft run`, `rft sweep`
and `rft sweep --dry-run`; the inputs that gave tracebacks before are listed here one by one."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from rftlib import RunConfig, finetune
from rftlib.cli import main as rft
from rftlib.config import apply_overrides
from rftlib.errors import RftError
from training_helpers import tiny_config

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = ROOT / "tests" / "notebooks" / "tiny_run.ipynb"
RQ1 = ROOT / "notebooks" / "rq1_tradeoff.ipynb"


def one_line_error(capsys, argv: list[str]) -> str:
    assert rft(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ---- malformed YAML ---------------------------------------------------------------------------

def test_malformed_yaml_in_a_file_or_an_override_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1\nseed: 0\n")
    assert f"config file {bad} is not valid YAML" in one_line_error(capsys, ["run", str(bad)])
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(tiny_config()))
    err = one_line_error(capsys, ["run", str(good), "-p", "lr=[1"])
    assert "override 'lr=[1' is not valid YAML" in err
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("grid: {x: [1, 2}\n")
    assert "sweep file" in one_line_error(capsys, ["sweep", str(sweep), "--dry-run"])


def test_yaml_1_2_floats_are_numbers(tmp_path):
    """PyYAML (YAML 1.1) reads `1.0e6` and `1e-3` as strings; users mean numbers."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_config()) + "lr: 1.0e-3\nweight_decay: 1e-2\n")
    config = RunConfig.from_yaml(path, ["adam_eps=1e-8", "grad_clip=1.0e6"])
    assert (config.lr, config.weight_decay, config.adam_eps, config.grad_clip) == (1e-3, 1e-2, 1e-8, 1e6)
    assert apply_overrides({}, ["seed=1", "strategy=1e5x"]) == {"seed": 1, "strategy": "1e5x"}


# ---- values: checked before anything loads or is written, the same everywhere -------------------

BAD_VALUES = [
    ({"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
    ({"lr": -1e-3}, "lr must be a finite number > 0, got -0.001"),
    ({"lr": 0}, "lr must be a finite number > 0, got 0.0"),
    ({"weight_decay": -0.1}, "weight_decay must be a finite number >= 0"),
    ({"attack": {"eps": -1}}, "PGD eps must be > 0, got -1"),
    ({"attack": {"steps": 0}}, "PGD steps must be an integer >= 1"),
    ({"betas": [0.9, 1.5]}, r"betas\[1\] must be a finite number in \[0, 1\)"),
    ({"grad_clip": 0}, "grad_clip must be a finite number > 0"),
    ({"warmup_steps": -5}, "warmup_steps must be an integer >= 0"),
]


@pytest.mark.parametrize("overrides, message", BAD_VALUES)
def test_bad_values_fail_in_rft_run_before_anything_is_written(tmp_path, overrides, message):
    with pytest.raises(RftError, match=message):
        finetune(tiny_config(output_dir=str(tmp_path), **overrides), progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overrides, message", [BAD_VALUES[2], BAD_VALUES[4]])  # lr: 0, eps: -1
def test_bad_values_fail_in_rft_sweep_and_its_dry_run(tmp_path, capsys, overrides, message):
    grid = {"strategy": "lora", "dataset": "digits", **{k: [v] for k, v in overrides.items()}}
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"notebook": str(RQ1), "output_dir": str(tmp_path / "out"), "reports": {},
                                     "parameters": {"profile": "demo"}, "grid": grid}))
    for argv in (["sweep", str(sweep), "--dry-run"], ["sweep", str(sweep)]):
        assert re.search(message, one_line_error(capsys, argv))
    assert not (tmp_path / "out").exists()


# ---- files and directories ----------------------------------------------------------------------

def test_a_label_outside_the_label_space_is_one_line(tmp_path):
    import datasets

    from fixtures_data import build_hub_dataset_dict
    from rftlib.data import load_task

    dd = build_hub_dataset_dict("cifar10", n_per_split=4, num_classes=3)
    feature = dd["train"].features["label"]
    for bad in (-1, 99):
        broken = datasets.DatasetDict({
            split: ds.cast_column("label", datasets.Value("int64"))
            .map(lambda row, i: {"label": bad if i == 1 else row["label"]}, with_indices=True)
            .cast_column("label", feature) for split, ds in dd.items()})
        broken.save_to_disk(str(tmp_path / str(bad)))
        with pytest.raises(RftError, match=rf"1 train label\(s\) outside the label space 0..2 of column 'label' "
                                           rf"\(e.g. {bad}\)"):
            load_task("cifar10", path=tmp_path / str(bad), image_size=8)


def test_a_sweep_output_directory_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"notebook": str(TINY_RUN), "output_dir": str(tmp_path / "file"),
                                     "grid": {"x": [1]}, "reports": {}}))
    err = one_line_error(capsys, ["sweep", str(sweep), "--no-progress"])
    assert f"cannot create the sweep output directory {tmp_path / 'file' / 'sweep'}: Not a directory" in err


@pytest.mark.slow
def test_a_truncated_checkpoint_says_how_to_start_over(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    checkpoint = run_dir / "checkpoint.pt"
    torch.save({"step": 4, "trainable": {"w": torch.zeros(1000)}}, checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # killed mid-copy, disk full, ...
    with pytest.raises(RftError, match=rf"cannot resume from {checkpoint}: .*to start this run over from step 0, "
                                       rf"delete it \(rm {checkpoint}\) and run again"):
        finetune(tiny_config(max_steps=4), run_dir=run_dir, progress=False)
    checkpoint.unlink()  # the advice works
    assert list(finetune(tiny_config(max_steps=4), run_dir=run_dir, progress=False).records["step"]) == [0, 4]


@pytest.mark.slow
def test_dry_run_into_a_closed_pipe_is_quiet(tmp_path):
    sweep = tmp_path / "many.yaml"
    sweep.write_text(yaml.safe_dump({"notebook": str(TINY_RUN), "output_dir": str(tmp_path / "out"),
                                     "grid": {"x": list(range(3000))}, "reports": {}}))
    done = subprocess.run(f"{sys.executable} -m rftlib.cli sweep {sweep} --dry-run | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("sweep many: 3000 runs")
    assert done.stderr == ""


# ---- weights ------------------------------------------------------------------------------------

class _Payload:
    def __reduce__(self):  # what a malicious checkpoint does: code to run on load
        return (print, ("pwned",))


def test_an_unsafe_weights_file_is_named_and_never_loaded_unsafely(tmp_path):
    from rftlib import build_model

    path = tmp_path / "evil.pth"
    torch.save({"head.weight": torch.zeros(2, 2), "payload": _Payload()}, path)
    with pytest.raises(RftError) as error:
        build_model("vit_tiny_patch16_224", 2, pretrained=True, weights=str(path), img_size=16, patch_size=4)
    message = str(error.value)
    assert "not a safe checkpoint (it asks to run print)" in message
    assert "a .safetensors file, or a torch checkpoint of tensors and plain data" in message
    assert "weights_only=False" not in message and "\n" not in message
