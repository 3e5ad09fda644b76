"""What runs leave behind for people and tools: reproducible weight files with ordinary permissions,
progress that reads well in a log, the package's subpackages as attributes."""
from __future__ import annotations

import io
import os

import torch
from safetensors.torch import load_file, save
from torch import nn

from rftlib.core.progress import progress_bar
from rftlib.training.checkpoint import FINAL_WEIGHTS, canonical_safetensors, save_final_weights


def test_final_weights_are_byte_identical_and_have_ordinary_permissions(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    metadata = {"strategy": "lora", "model": "vit_tiny", "dataset": "digits", "seed": "0"}
    files = []
    for i in range(6):  # safetensors orders metadata differently from one write to the next
        (tmp_path / str(i)).mkdir()
        save_final_weights(tmp_path / str(i), model, metadata)
        files.append((tmp_path / str(i) / FINAL_WEIGHTS).read_bytes())
    assert len(set(files)) == 1
    assert len({save({"w": torch.zeros(1)}, metadata=metadata) for _ in range(6)}) > 1  # the library alone
    loaded = load_file(tmp_path / "0" / FINAL_WEIGHTS)
    assert torch.equal(loaded["weight"], model.weight.detach()) and torch.equal(loaded["bias"], model.bias.detach())
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "0" / FINAL_WEIGHTS).stat().st_mode & 0o777 == 0o666 & ~umask  # not 0600


def test_canonical_header_keeps_the_tensors_in_place():
    data = save({"b": torch.arange(3.0), "a": torch.ones(2)}, metadata={"z": "1", "y": "2"})
    canonical = canonical_safetensors(data)
    assert len(canonical) == len(data) and canonical[-20:] == data[-20:]


def test_progress_in_a_log_is_a_few_whole_lines():
    log = io.StringIO()  # not a terminal
    with progress_bar(total=5000, desc="run", file=log) as bar:
        for _ in range(5000):
            bar.update(1)
            bar.set_postfix(loss="0.1", refresh=False)
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert 1 <= len(lines) <= 3 and lines[-1].startswith("run: 5000/5000 (100%)")


def test_subpackages_are_attributes_after_import_rftlib():
    """`import rftlib; rftlib.attacks.PGD` as the README shows: the package's own __getattr__ imports
    a subpackage on first use (called directly: other tests may have imported it already)."""
    import rftlib

    assert rftlib.__getattr__("attacks").PGD.__name__ == "PGD"
    assert rftlib.__getattr__("results").load_records.__name__ == "load_records"
    assert {"attacks", "results", "sweep", "training"} <= set(dir(rftlib))
