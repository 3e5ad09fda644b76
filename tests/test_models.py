"""build_model: timm backbones with a new head, pixel-space input, local weights, offline failures."""
import time

import pytest
import timm
import torch
from huggingface_hub import constants as hub_constants
from safetensors.torch import save_file

from rftlib.core.errors import RftError
from rftlib.models import PAPER_MODEL, PixelSpaceClassifier, build_model

TINY = dict(img_size=32)  # test_vit: 64 wide, 6 blocks, 16 px patches -> 4 patches at 32 px


def tiny(num_classes=10, **kwargs):
    return build_model("test_vit", num_classes=num_classes, pretrained=False, **TINY, **kwargs)


def test_forward_takes_pixels_and_normalises():
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert isinstance(model, PixelSpaceClassifier)
    assert out.shape == (2, 10)
    assert model.mean.shape == model.std.shape == (1, 3, 1, 1)
    assert torch.equal(model.mean, torch.full((1, 3, 1, 1), 0.5))
    assert torch.equal(out, model.backbone((x - 0.5) / 0.5))
    assert model.image_size == 32 and model.num_classes == 10


def test_paper_defaults():
    cfg = timm.models.get_pretrained_cfg(PAPER_MODEL)
    assert (cfg.mean, cfg.std) == ((0.5,) * 3, (0.5,) * 3)  # the paper's normalisation
    model = build_model(pretrained=False, device="meta")  # no allocation, no download
    assert model.backbone.pretrained_cfg["tag"] == "orig_in21k"
    assert model.num_classes == 10 and model.image_size == 224
    assert model.backbone.head_drop.p == 0.0
    assert all(type(b.drop_path1).__name__ == "Identity" for b in model.backbone.blocks)


def _save_source(tmp_path, num_classes, fmt):
    torch.manual_seed(1)
    source = timm.create_model("test_vit", num_classes=num_classes, **TINY)
    if fmt == "safetensors":
        path = tmp_path / "weights.safetensors"
        save_file(source.state_dict(), str(path))
    else:  # a training checkpoint wrapping the state dict
        path = tmp_path / "checkpoint.pth"
        torch.save({"state_dict": source.state_dict(), "epoch": 3}, path)
    return source, path


@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
@pytest.mark.parametrize("num_classes", [10, 1000])  # 1000 = the head size timm's registry declares
def test_local_weights_with_another_head(tmp_path, fmt, num_classes):
    source, path = _save_source(tmp_path, 7, fmt)
    model = build_model("test_vit", num_classes=num_classes, weights=path, **TINY)
    loaded, original = model.backbone.state_dict(), source.state_dict()
    backbone_keys = [k for k in original if not k.startswith("head.")]
    assert len(backbone_keys) > 50
    for key in backbone_keys:
        assert torch.equal(loaded[key], original[key]), key
    assert model.backbone.head.weight.shape == (num_classes, 64)  # dropped and re-initialised


def test_local_weights_with_the_same_head_keep_it(tmp_path):
    source, path = _save_source(tmp_path, 7, "safetensors")
    model = build_model("test_vit", num_classes=7, weights=path, **TINY)
    assert torch.equal(model.backbone.head.weight, source.head.weight)


def test_local_weights_resampled_to_another_image_size(tmp_path):
    _, path = _save_source(tmp_path, 7, "safetensors")  # saved at 32 px (2 x 2 patches)
    model = build_model("test_vit", num_classes=10, weights=path, img_size=64)  # timm's filter resamples
    assert model.backbone.pos_embed.shape == (1, 1 + 16, 64)


def test_weights_that_do_not_fit_fail(tmp_path):
    source, _ = _save_source(tmp_path, 7, "safetensors")
    wrapped = tmp_path / "wrapped.safetensors"  # keys prefixed, as a wrapper module saves them
    save_file({f"backbone.{k}": v for k, v in source.state_dict().items()}, str(wrapped))
    with pytest.raises(RftError, match="lacks"):
        build_model("test_vit", weights=wrapped, **TINY)
    with pytest.raises(RftError, match="could not load"):
        build_model("vit_tiny_patch16_224", weights=wrapped.with_name("weights.safetensors"), **TINY)


def test_missing_weights_file(tmp_path):
    with pytest.raises(RftError, match="not found"):
        build_model("test_vit", weights=tmp_path / "nope.safetensors")
    with pytest.raises(RftError, match="pretrained=False"):
        build_model("test_vit", pretrained=False, weights=tmp_path / "nope.safetensors")


def test_offline_hub_weights_fail_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))  # nothing cached
    start = time.monotonic()
    with pytest.raises(RftError, match=r"weights=PATH.*pretrained=False"):
        build_model(PAPER_MODEL)
    assert time.monotonic() - start < 10


def test_offline_with_cached_hub_weights_loads_them(tmp_path, monkeypatch):
    # a hub cache laid out as huggingface_hub writes it, holding test_vit's default weights
    repo = tmp_path / "models--timm--test_vit.r160_in1k"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    torch.manual_seed(2)
    source = timm.create_model("test_vit")
    save_file(source.state_dict(), str(snapshot / "model.safetensors"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    model = build_model("test_vit", num_classes=10)
    assert torch.equal(model.backbone.blocks[2].mlp.fc1.weight, source.blocks[2].mlp.fc1.weight)
    assert model.backbone.head.weight.shape == (10, 64)


def test_unreachable_hub_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://127.0.0.1:9")  # refused at once, no network
    start = time.monotonic()
    with pytest.raises(RftError, match="cannot reach 127.0.0.1"):
        build_model("test_vit")
    assert time.monotonic() - start < 10


def test_unknown_names():
    with pytest.raises(RftError, match=r"unknown timm model 'vit_bse_patch16_224' \(close: vit_base_patch16_224"):
        build_model("vit_bse_patch16_224", pretrained=False)
    with pytest.raises(RftError, match=r"valid: .*orig_in21k"):
        build_model("vit_base_patch16_224.in22k", pretrained=False)
    with pytest.raises(RftError, match="rejected its arguments"):
        tiny(not_an_argument=1)
