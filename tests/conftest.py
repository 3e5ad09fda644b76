"""Shared test set-up: offline, CPU-sized, deterministic."""
import os

# Before anything imports huggingface_hub: hub look-ups fail at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)  # two workers share two cores


@pytest.fixture
def tiny_vit_kwargs():
    """A ViT small enough for CPU tests: timm's vit_tiny at 32 px with 4 px patches."""
    return dict(name="vit_tiny_patch16_224", model_kwargs=dict(img_size=32, patch_size=4))
