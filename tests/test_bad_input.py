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
from rftlib.runs.config import apply_overrides
from rftlib.core.errors import RftError
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


# ---- checked before the run directory is claimed (issue 16, section 1) -------------------------

def refused_before_any_directory(tmp_path, capsys, overrides: list[str], config: dict | None = None) -> str:
    """`rft run` with ``overrides``: exit 2, one line, and no run directory (nor output_dir) made."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config or tiny_config(output_dir=str(tmp_path / "out"))))
    err = one_line_error(capsys, ["run", str(path), *[a for o in overrides for a in ("-p", o)]])
    assert not (tmp_path / "out").exists(), "a refused run wrote its directory"
    return err


CHECKED_BEFORE_WRITING = [
    (["model=vit_tinny_patch16_224"], r"unknown timm model 'vit_tinny_patch16_224' \(close: vit_tiny_patch16_224"),
    (["model=vit_tiny_patch16_224.orig_in21kk"], r"unknown vit_tiny_patch16_224 pretrained tag 'orig_in21kk'"),
    (["domain=real"], r"synthetic has no domains"),
    (["dataset_options.domains=3", "domain=d7"], r"unknown synthetic domain 'd7'.*valid: d0, d1, d2"),
    (["strategy=lora", "model=efficientnet_b0", "model_kwargs={}"], r"strategy 'lora' supports .*EfficientNet is in no family"),
    (["strategy=adapter", "model=resnet18", "model_kwargs={}"], r"strategy 'adapter' supports .*resnet: bottleneck adapters"),
    (["device=gpu"], r"unknown device 'gpu' \(a CUDA GPU is 'cuda' or 'cuda:N'\); valid: auto, cpu, cuda, cuda:N, mps"),
    (["device=cuda"], r"device 'cuda' asked for, but CUDA is not available here"),
    (["dataset=feature_model", "dataset_options={pattern_seed: -1}"], r"feature_model option 'pattern_seed' must be an integer >= 0"),
    (["dataset_options.data_seed=-3"], r"synthetic option 'data_seed' must be None or an integer >= 0, got -3"),
    (["dataset=digits", "dataset_options={data_seed: -1}"], r"digits option 'data_seed' must be None or an integer >= 0"),
    (["dataset_options.num_classes=1"], r"synthetic option 'num_classes' must be at least 2"),
    (["epochs=-1"], r"epochs must be a finite number > 0, got -1.0"),  # max_steps is set: epochs is unused
    (["learnig_rate=1e-3"], r"unknown run config key 'learnig_rate' \(did you mean 'lr'\?\)"),
]


@pytest.mark.parametrize("overrides, message", CHECKED_BEFORE_WRITING, ids=[o[-1] for o, _ in CHECKED_BEFORE_WRITING])
def test_what_is_knowable_without_training_is_refused_before_the_run_directory(tmp_path, capsys, monkeypatch,
                                                                               overrides, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CUDA case on any machine
    assert re.search(message, refused_before_any_directory(tmp_path, capsys, overrides))


@pytest.mark.parametrize("value", ["64.0", "1e2"])
@pytest.mark.parametrize("key", ["batch_size", "max_steps", "seed", "attack.steps", "strategy_options.r",
                                 "dataset_options.num_classes", "final_autoattack.size"])
def test_integer_fields_take_integers_only_everywhere(key, value):
    """The decision for 64.0 (and 1e4, which YAML reads as a float): refused in every integer field,
    top-level or nested, never rounded; the message says how to write it."""
    values = apply_overrides(tiny_config(), [f"{key}={value}"])
    with pytest.raises(RftError, match=rf"\bint(eger)?\b.*, got {float(value)}") as error:
        RunConfig.from_dict(values)
    if key != "final_autoattack.size":  # its own message, which says "a positive integer"
        assert f"(integer fields take integers only: write {int(float(value))})" in str(error.value)


def test_a_directory_given_as_config_is_named_as_one(tmp_path, capsys):
    assert f"config file {tmp_path} is a directory" in one_line_error(capsys, ["run", str(tmp_path)])


# ---- weights files: their format read from the header, before the run directory -----------------

def test_weights_that_are_no_checkpoint_are_refused_from_their_header(tmp_path, capsys):
    import pickle

    (tmp_path / "random.pth").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "data.pkl").write_bytes(pickle.dumps({"head.weight": [[0.0]]}))
    (tmp_path / "empty.pth").write_bytes(b"")
    takes = "rftlib loads a .safetensors file, or a torch checkpoint of tensors and plain data"
    for name, what in (("random.pth", "in no format rftlib reads (not safetensors, not a torch checkpoint)"),
                       ("data.pkl", "a Python pickle, not a torch checkpoint"), ("empty.pth", "empty")):
        err = refused_before_any_directory(tmp_path, capsys, [f"weights={tmp_path / name}", "pretrained=true"])
        assert f"is {what}; {takes}" in err  # one line: no torch warning about weights_only either
    err = refused_before_any_directory(tmp_path, capsys, [f"weights={tmp_path / 'random.pth'}"])  # tiny: pretrained false
    assert "was given with pretrained: false; drop one of them" in err


def test_the_weight_formats_rftlib_loads_pass_the_header_check(tmp_path):
    from safetensors.torch import save_file

    from rftlib.runs.preflight import check_weights, weights_format

    tensors = {"head.weight": torch.zeros(2, 3)}
    save_file(tensors, tmp_path / "w.safetensors")
    torch.save(tensors, tmp_path / "zip.pth")
    torch.save(tensors, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    assert weights_format(tmp_path / "w.safetensors") == "safetensors"
    assert weights_format(tmp_path / "zip.pth") == weights_format(tmp_path / "legacy.pth") == "torch"
    for name in ("w.safetensors", "zip.pth", "legacy.pth"):
        check_weights(str(tmp_path / name), pretrained=True)
    (tmp_path / "w.bin").write_bytes((tmp_path / "w.safetensors").read_bytes())  # timm reads by the suffix
    with pytest.raises(RftError, match="is a safetensors file; name it"):
        check_weights(str(tmp_path / "w.bin"), pretrained=True)


# ---- sweeps: the dry run makes the same checks ---------------------------------------------------

@pytest.mark.parametrize("grid, message", [
    ({"model": ["vit_tinny_patch16_224"]}, "unknown timm model 'vit_tinny_patch16_224'"),
    ({"domain": ["real"]}, "digits has no domains"),
])
def test_a_dry_run_refuses_what_the_sweep_would(tmp_path, capsys, grid, message):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"notebook": str(RQ1), "output_dir": str(tmp_path / "out"), "reports": {},
                                     "parameters": {"profile": "demo"},
                                     "grid": {"strategy": ["lora"], "dataset": ["digits"], **grid}}))
    assert message in one_line_error(capsys, ["sweep", str(sweep), "--dry-run"])
    assert not (tmp_path / "out").exists()


# ---- what only the data tells: checked once loaded, before the run directory -------------------

def _int_labelled_cifar10(root: Path, label_at_row_1: int | None, num_classes: int = 3) -> Path:
    """A 3-class cifar10 copy whose labels are plain integers (not a ClassLabel), row 1 relabelled."""
    import datasets

    from fixtures_data import build_hub_dataset_dict

    datasets.disable_progress_bars()
    dd = build_hub_dataset_dict("cifar10", n_per_split=6, num_classes=num_classes)
    dd = datasets.DatasetDict({split: ds.cast_column("label", datasets.Value("int64")) for split, ds in dd.items()})
    if label_at_row_1 is not None:
        dd = dd.map(lambda row, i: {"label": label_at_row_1 if i == 1 else row["label"]}, with_indices=True)
    folder = root / f"cifar10-{label_at_row_1}-{num_classes}"
    dd.save_to_disk(str(folder))
    return folder


def test_integer_labels_outside_the_label_space_are_refused_naming_the_rows(tmp_path):
    from rftlib.data import load_task

    for bad, note in ((-1, r" \(-1 marks an unlabelled example by the hub's convention"), (99, ";")):
        path = _int_labelled_cifar10(tmp_path, bad)
        with pytest.raises(RftError, match=rf"cifar10: 1 train label\(s\) outside the label space 0..9 of column "
                                           rf"'label' \(e.g. {bad}\) at row\(s\) 1{note}"):
            load_task("cifar10", path=path, image_size=8)


@pytest.mark.slow
def test_a_local_copy_is_checked_before_the_run_directory_is_written(tmp_path):
    """Empty folder, a label outside the label space, one class, APGD-T targets beyond its classes:
    refused after the data loads, before the run claims its directory."""
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (empty, {}, "holds no files"),
        (_int_labelled_cifar10(tmp_path, 99), {}, r"outside the label space 0..9"),
        (_int_labelled_cifar10(tmp_path, None, num_classes=1), {}, "holds one class .* at least 2 classes"),
        (_int_labelled_cifar10(tmp_path, None, num_classes=3),
         {"attacks": [{"name": "apgd_ce_t", "targets": 3, "steps": 2}]}, r"APGD-T .*needs at least 4 classes, the model has 3"),
    ]
    for path, extra, message in cases:
        out = tmp_path / "out"
        config = tiny_config(dataset="cifar10", dataset_options={"path": str(path)}, output_dir=str(out), **extra)
        with pytest.raises(RftError, match=message):
            finetune(config, progress=False)
        assert not out.exists(), message


@pytest.mark.slow
def test_a_test_split_smaller_than_eval_size_is_said_once_and_its_n_recorded(tmp_path):
    config = tiny_config(dataset_options={"num_classes": 4, "train_size": 64, "test_size": 16}, eval_size=32,
                         max_steps=2, schedule=[[None, 2]], output_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="the test split holds 16 examples, fewer than eval_size 32") as said:
        result = finetune(config, progress=False)
    assert len([w for w in said if "eval_size" in str(w.message)]) == 1
    assert result.summary["n_eval"] == 16


def test_complexity_on_a_one_class_task_blames_the_classes_not_autoattack(capsys):
    err = one_line_error(capsys, ["complexity", "--dataset", "synthetic", "--profile", "demo",
                                  "-p", "dataset_options.num_classes=1"])
    assert "synthetic option 'num_classes' must be at least 2, got 1" in err and "AutoAttack" not in err
