import torch
from safetensors.torch import load_file

from rftlib import build_model
from rftlib.upstream import pretrain


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
