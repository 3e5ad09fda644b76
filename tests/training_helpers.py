"""A CPU-sized run configuration shared by the training, resume and CLI tests."""
from __future__ import annotations

from rftlib.runs.records import TIMING_FIELDS


# What every test run shares unless it asks for another model: the cost of most of the suite.
TINY_VIT = {"img_size": 16, "patch_size": 4, "depth": 2, "embed_dim": 96}


def tiny_config(**overrides) -> dict:
    """A 16-px, 2-block ViT (timm's vit_tiny with 96-wide blocks) on a 4-class synthetic task: a dozen
    steps in about half a second of one core's CPU (the 12-block, 192-wide vit_tiny took ~5 s)."""
    config = dict(
        model="vit_tiny_patch16_224", model_kwargs=dict(TINY_VIT), pretrained=False,
        strategy="lora", dataset="synthetic",
        dataset_options={"num_classes": 4, "train_size": 256, "test_size": 64},
        max_steps=12, batch_size=32, lr=1e-3, warmup_steps=2, schedule=[[None, 4]],
        eval_size=32, eval_batch_size=32, attack={"steps": 2, "eps": 4 / 255, "alpha": 2 / 255},
        device="cpu",
    )
    config.update(overrides)
    return config


def without_timing(records) -> list[dict]:
    """Records minus wall-clock fields, with missing values as None (a frame holds them as NaN)."""
    rows = records if isinstance(records, list) else records.to_dict("records")
    return [{k: (None if v != v else v) for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


def die_after_steps(monkeypatch, steps: int) -> None:
    """Make the training loop raise KeyboardInterrupt at its ``steps + 1``-th step, as a killed run
    would stop (undo with ``monkeypatch.undo()``)."""
    from rftlib.training import loop

    real_step, taken = loop.training_step, []

    def dying_step(*args, **kwargs):
        if len(taken) == steps:
            raise KeyboardInterrupt
        taken.append(1)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "training_step", dying_step)
