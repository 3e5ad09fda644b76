"""open_clip models as backbones (issue 28), offline on rftlib's tiny CLIP (RFT-Tiny-CLIP: 2 blocks of width 64
per tower, 32-px inputs, built with pretrained=None): the zero-shot head against CLIP's formula by hand, the
attention conversion, the seven strategies' counts and outputs at step 0, checkpoints in open_clip's format
(whole CLIPs and image towers alone, as robust CLIPs are published) bit for bit, WiSE-FT from the zero-shot
model, `rft strategies` and `rft run` end to end, and a hub tag offline refused before anything is written."""
import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace

import open_clip
import pytest
import torch
import torch.nn.functional as F

from rftlib import cli
from rftlib.core.errors import RftError
from rftlib.data.prompts import readable_class_name, templates_for, zero_shot_prompts
from rftlib.models import build_model
from rftlib.models.clip import open_clip_state_dict
from rftlib.models.clip_names import TINY_CLIP
from rftlib.remedies.interpolation import interpolate_states
from rftlib.runs.config import RunConfig
from rftlib.strategies import STRATEGIES, apply_strategy, family_of, trainable_parameters
from rftlib.training.checkpoint import load_trainable_state, trainable_state
from rftlib.training.wise_ft import start_point

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("cat", "dog", "aquarium fish")
TEMPLATES = ("a photo of a {}.", "a blurry photo of the {}.", "a drawing of a {}.")


def reference_clip(seed: int = 0):
    """open_clip's own model, unconverted: the hand computations' source of truth."""
    from rftlib.models.clip import _register_configs

    _register_configs()
    torch.manual_seed(seed)
    return open_clip.create_model("RFT-Tiny-CLIP", pretrained=None).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A whole tiny CLIP saved in open_clip's format (``torch.save(model.state_dict())``)."""
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    torch.save(reference_clip(0).state_dict(), path)
    return path


def zero_shot_model(checkpoint, **kwargs):
    return build_model(TINY_CLIP, len(NAMES), pretrained=str(checkpoint), class_names=NAMES, templates=TEMPLATES,
                       **kwargs)


def test_zero_shot_logits_are_clips_formula(checkpoint):
    """logits = exp(logit_scale) · normalise(image(x)) · w_c, w_c = normalise(mean_t normalise(text(t(c)))),
    pixels normalised inside with OpenAI's mean and std; the head's bias is 0."""
    model = zero_shot_model(checkpoint).eval()
    reference, tokenizer = reference_clip(0), open_clip.get_tokenizer("RFT-Tiny-CLIP")
    x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
    std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)
    with torch.no_grad():
        image = reference.encode_image((x - mean) / std)
        image = image / image.norm(dim=1, keepdim=True)
        classes = []
        for name in NAMES:
            text = reference.encode_text(tokenizer([t.format(name) for t in TEMPLATES]))
            text = (text / text.norm(dim=1, keepdim=True)).mean(dim=0)
            classes.append(text / text.norm())
        by_hand = reference.logit_scale.exp() * image @ torch.stack(classes).T
        logits = model(x)
    torch.testing.assert_close(logits, by_hand, rtol=1e-5, atol=1e-5)
    assert model.num_classes == 3 and model.image_size == 32 and model.text is None  # text tower dropped
    assert torch.equal(model.backbone.head.bias, torch.zeros(3))
    assert abs(reference.logit_scale.exp().item() - 1 / 0.07) < 1e-4  # open_clip's initial temperature


def test_attention_as_linear_modules_is_multihead_attention(checkpoint):
    """The converted attention computes open_clip's function on the same tensors: bit for bit in train
    mode (eval mode takes torch's fused fast path, which rounds differently)."""
    model = build_model(TINY_CLIP, 3, pretrained=str(checkpoint))
    reference = reference_clip(0)
    block = model.backbone.visual.transformer.resblocks[0]
    assert type(block.attn).__name__ == "ClipAttention" and isinstance(block.attn.in_proj, torch.nn.Linear)
    x = torch.rand(4, 3, 32, 32)
    features = model.train().backbone.visual((x - model.mean) / model.std)
    assert torch.equal(features, reference.train().visual((x - model.mean) / model.std))
    with torch.no_grad():
        torch.testing.assert_close(model.eval().backbone.visual((x - model.mean) / model.std),
                                   reference.eval().visual((x - model.mean) / model.std), rtol=0, atol=1e-5)


# Tiny CLIP, by hand: width 64, MLP 256, 2 blocks, 17 tokens (16 patches of 8 px + CLS), embedding 32, 10 classes.
#   image tower = class 64 + positions 17*64 + conv1 3*8*8*64 (no bias) + ln_pre 128 + ln_post 128 + proj 64*32
#     + 2 x (ln_1 128 + in_proj 64*192 + 192 + out_proj 64*64 + 64 + ln_2 128 + c_fc 64*256 + 256
#            + c_proj 256*64 + 64) = 115,712; head 32*10 + 10 = 330
TINY_BASE, TINY_HEAD = 115_712, 330
TINY_EXTRA = {  # strategy: parameters it adds, parameters it trains besides the head
    # 2 x [q, k, v: 3 x (8*64 + 64*8) + c_fc (8*64 + 256*8) + c_proj (8*256 + 64*8)]
    "lora": (16_384, 16_384),
    # 4 adapters of width 64 / 8 = 8: 64*8 + 8 + 8*64 + 64
    "adapter": (4_384, 4_384),
    # width 64 / 32 = 2, rounded up to the PHM dimension 4: down (64 + 4 + 4) + up (4 + 64 + 64) per adapter, + rule 64
    "compacter": (880, 880),
    # 2 x (ln_1 64 + in_proj 192 + out_proj 64 + ln_2 64 + c_fc 256 + c_proj 64) + ln_pre 64 + ln_post 64
    "bitfit": (0, 1_536),
    # 2 x (k 64 + v 64 + c_fc 256 + c_proj 64)
    "ia3": (896, 896),
}


def test_seven_strategies_inside_open_clips_vision_transformer():
    model = build_model(TINY_CLIP, 10, pretrained=False, device="meta")
    assert family_of(model.backbone).name == "clip"
    expected = {"full": (TINY_BASE + TINY_HEAD,) * 2, "linear_probe": (TINY_HEAD, TINY_BASE + TINY_HEAD)}
    expected.update({s: (trains + TINY_HEAD, TINY_BASE + TINY_HEAD + adds) for s, (adds, trains) in TINY_EXTRA.items()})
    assert {s: trainable_parameters(apply_strategy(copy.deepcopy(model), s)) for s in STRATEGIES} == expected
    lora = apply_strategy(copy.deepcopy(model), "lora")
    adapted = sorted({k.split(".lora_")[0] for k, _ in lora.named_parameters() if ".lora_" in k})
    assert adapted[:5] == [f"backbone.visual.transformer.resblocks.0.{p}" for p in
                           ("attn.in_proj.k", "attn.in_proj.q", "attn.in_proj.v", "mlp.c_fc", "mlp.c_proj")]
    # ViT-B/16 (OpenAI's CLIP): LoRA = 12 x [3 x 2 x 8*768 + c_fc (8*768 + 3072*8) + c_proj (8*3072 + 768*8)]
    # + head 512*10 + 10, of 86,192,640 + head in the image tower.
    vit_b = apply_strategy(build_model("open_clip:ViT-B-16", 10, pretrained=False, device="meta"), "lora")
    assert trainable_parameters(vit_b) == (12 * 98_304 + 5_130, 86_192_640 + 5_130 + 12 * 98_304)


def test_each_strategy_starts_at_the_zero_shot_model(checkpoint):
    """Step 0 of every strategy is the zero-shot classifier: exactly for full, linear probe, BitFit, LoRA
    (B = 0) and (IA)³ (scales 1); adapters near it (AdapterHub's N(0, 0.02) init) and exactly with their
    up-projections at zero."""
    from rftlib.strategies._bottleneck import Bottleneck

    zero_shot = zero_shot_model(checkpoint).eval()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = zero_shot(x)
    for strategy in STRATEGIES:
        torch.manual_seed(0)
        model = apply_strategy(copy.deepcopy(zero_shot), strategy).eval()
        with torch.no_grad():
            if strategy in ("adapter", "compacter"):
                torch.testing.assert_close(model(x), reference, rtol=0, atol=0.05)
                for module in model.modules():
                    if isinstance(module, Bottleneck):
                        up = module.up
                        for tensor in (up.bias, up.weight if isinstance(up, torch.nn.Linear) else up.right):
                            tensor.zero_()
            assert torch.equal(model(x), reference), strategy


def test_checkpoints_in_open_clips_format_load_bit_for_bit(checkpoint, tmp_path):
    """A whole CLIP (torch.save or safetensors of its state dict) loads into every tensor unchanged and
    exports back to the same state dict, which open_clip's own loader reads; an image tower alone (TeCoA's
    and FARE's files: model.visual.state_dict()) loads over another CLIP's text tower."""
    from safetensors.torch import save_file

    saved = reference_clip(0).state_dict()
    model = build_model(TINY_CLIP, 3, pretrained=str(checkpoint), keep_text=True)
    exported = open_clip_state_dict(model)
    assert set(exported) == set(saved) and all(torch.equal(exported[k], saved[k]) for k in saved)
    safetensors = tmp_path / "tiny_clip.safetensors"
    save_file({k: v.contiguous() for k, v in saved.items()}, str(safetensors))
    again = open_clip_state_dict(build_model(TINY_CLIP, 3, pretrained=str(safetensors), keep_text=True))
    assert all(torch.equal(again[k], saved[k]) for k in saved)
    torch.save(exported, tmp_path / "exported.pt")
    fresh = reference_clip(5)
    open_clip.load_checkpoint(fresh, str(tmp_path / "exported.pt"), strict=True)
    assert all(torch.equal(fresh.state_dict()[k], saved[k]) for k in saved)

    robust = reference_clip(1).visual.state_dict()  # another image tower, alone, as robust CLIPs are published
    torch.save(robust, tmp_path / "fare_like.pt")
    combined = open_clip_state_dict(build_model(TINY_CLIP, 3, pretrained=str(checkpoint),
                                                weights=str(tmp_path / "fare_like.pt"), keep_text=True))
    assert all(torch.equal(combined[f"visual.{k}"], v) for k, v in robust.items())
    assert all(torch.equal(combined[k], saved[k]) for k in saved if not k.startswith("visual."))
    assert not torch.equal(combined["visual.conv1.weight"], saved["visual.conv1.weight"])
    with pytest.raises(RftError, match="holds an image tower only; the text tower needs weights too"):
        build_model(TINY_CLIP, 3, pretrained=str(tmp_path / "fare_like.pt"))
    torch.save({"blocks.0.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(RftError, match="is neither an open_clip checkpoint .* nor an image tower's state dict"):
        build_model(TINY_CLIP, 3, pretrained=True, weights=str(tmp_path / "other.pt"))
    torch.save({k: v for k, v in saved.items() if k != "visual.proj"}, tmp_path / "short.pt")
    with pytest.raises(RftError, match=r"could not load .*short.pt.* Missing key\(s\)"):
        build_model(TINY_CLIP, 3, pretrained=str(tmp_path / "short.pt"))


def test_pretrained_tags_and_paths_refused_in_one_line(checkpoint):
    base = {"model": TINY_CLIP, "dataset": "digits", "strategy": "lora"}
    with pytest.raises(RftError, match=r"open_clip:ViT-B-16 pretrained tag 'opneai' \(did you mean 'openai'\?\)"):
        RunConfig.from_dict({**base, "model": "open_clip:ViT-B-16", "pretrained": "opneai"})
    with pytest.raises(RftError, match=r"open_clip:ViT-B-16 needs pretrained: one of its tags \(openai, laion400m_e31"):
        RunConfig.from_dict({**base, "model": "open_clip:ViT-B-16", "pretrained": True})
    with pytest.raises(RftError, match="open_clip models take model_kwargs img_size; got depth"):
        RunConfig.from_dict({**base, "pretrained": False, "model_kwargs": {"depth": 2}})
    config = RunConfig.from_dict({**base, "pretrained": str(checkpoint), "wise_ft": {}})
    assert config.resolved().wise_ft["start"] == "zeroshot"  # the WiSE-FT paper's start, for CLIP models
    timm = RunConfig.from_dict({"model": "vit_tiny_patch16_224", "wise_ft": {}, "pretrained": False,
                                "model_kwargs": {"img_size": 16, "patch_size": 4}})
    assert timm.resolved().wise_ft["start"] == "probe"


def test_offline_tag_fails_in_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    """`pretrained: openai` runs open_clip's real download code; offline and not cached, `rft run` stops with
    one line (exit status 2) before the data loads or a run directory is written."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *args, **kwargs: None)  # nothing cached
    out = tmp_path / "out"
    code = cli.main(["run", str(ROOT / "params" / "runs" / "clip_tiny.yaml"), "-p", "model=open_clip:ViT-B-16",
                     "-p", "pretrained=openai", "-p", f"output_dir={out}", "-p", "device=cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert ("offline (HF_HUB_OFFLINE is set) and the open_clip weights ViT-B-16/openai are not cached; pass a local "
            "checkpoint in open_clip's format") in err
    assert not out.exists()
    with pytest.raises(RftError, match="the open_clip weights ViT-B-16/openai are not cached"):
        build_model("open_clip:ViT-B-16", 10, pretrained="openai")  # the library refuses the same way


def test_wise_ft_from_the_zero_shot_model_reproduces_both_ends(checkpoint):
    """start: zeroshot is the zero-shot head even when the run's initial head is another (LP-FT's probe):
    α = 0 gives the start model (the zero-shot logits themselves, but for the adapters' own initial values)
    and α = 1 the fine-tuned one, bit for bit, for every strategy."""
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    zero_shot = zero_shot_model(checkpoint).eval()
    with torch.no_grad():
        zero_shot_logits = zero_shot(x)
    head = {k: v.clone() for k, v in zero_shot.named_parameters() if k.startswith("backbone.head.")}

    def logits(model, state):
        load_trainable_state(model, state)
        with torch.no_grad():
            return model(x)

    for strategy in STRATEGIES:
        torch.manual_seed(0)
        model = copy.deepcopy(zero_shot)
        with torch.no_grad():
            model.backbone.head.weight.mul_(-1.0)  # an initial head that is not the zero-shot one (a probe head)
        model = apply_strategy(model, strategy).eval()
        initial = trainable_state(model)
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(0.05 * torch.randn_like(p))
        end = trainable_state(model)
        config = SimpleNamespace(lp_ft={"steps": 1}, model=TINY_CLIP)
        start = start_point(config, Path("."), initial, task=None, start="zeroshot", device="cpu", zero_shot=head)
        at_start, at_end = logits(model, start), logits(model, end)
        assert not torch.equal(at_start, at_end)
        assert torch.equal(logits(model, interpolate_states(model, start, end, 0.0)), at_start), strategy
        assert torch.equal(logits(model, interpolate_states(model, start, end, 1.0)), at_end), strategy
        if strategy not in ("adapter", "compacter"):  # their modules start near, not at, the identity
            assert torch.equal(at_start, zero_shot_logits), strategy
    with pytest.raises(RftError, match="needs an open_clip model's zero-shot head"):
        start_point(SimpleNamespace(lp_ft=None, model="resnet50"), Path("."), {}, task=None, start="zeroshot",
                    device="cpu")


def test_rft_strategies_lists_open_clip_models(capsys):
    assert cli.main(["strategies", "--model", "open_clip:ViT-B-16"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in STRATEGIES}
    assert list(rows) == list(STRATEGIES) and "open_clip:ViT-B-16 (family clip), 10 classes" in out
    assert rows["lora"].split()[1] == f"{12 * 98_304 + 5_130:,}" and "attn.in_proj.q" in rows["lora"]


def test_class_names_and_templates_per_dataset():
    assert [readable_class_name(n) for n in ("aquarium_fish", "001.Black_footed_Albatross", "n02085620-Chihuahua",
                                             "257.clutter")] == ["aquarium fish", "Black footed Albatross",
                                                                 "Chihuahua", "clutter"]
    assert [len(templates_for(d)[1]) for d in ("cifar10", "cifar100", "caltech256", "domainnet", "digits", "cub200",
                                               "synthetic")] == [18, 18, 34, 80, 1, 1, 1]
    prompts = zero_shot_prompts("digits", [str(d) for d in range(10)])
    assert prompts.templates == ('a photo of the number: "{}".',) and prompts.name == "clip_mnist"
    assert "{}" in templates_for("stanford_dogs")[1][0] and "pet" in templates_for("stanford_dogs")[1][0]


def test_rft_run_end_to_end(tmp_path, capsys):
    """`rft run params/runs/clip_tiny.yaml`: step 0 is the zero-shot model, the summary names the templates
    and class names, and WiSE-FT from it gives α = 0 at step 0's clean accuracy and α = 1 at the final
    evaluation."""
    code = cli.main(["run", str(ROOT / "params" / "runs" / "clip_tiny.yaml"), "-p", "max_steps=8",
                     "-p", "schedule=[[null, 4]]", "-p", "eval_size=32", "-p", f"output_dir={tmp_path}",
                     "-p", "device=cpu", "-p", "attack.steps=2"])
    assert code == 0, capsys.readouterr().err
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [r["step"] for r in records] == [0, 4, 8] and (run_dir / "done").exists()
    assert summary["zero_shot"]["templates"] == "clip_mnist" and summary["zero_shot"]["class_names"][3] == "3"
    assert summary["trainable_params"] == 16_714  # LoRA on the tiny CLIP with a 10-class head (see above)
    rows = {r["alpha"]: r for r in map(json.loads, (run_dir / "wise_ft.jsonl").read_text().splitlines())}
    assert {r["start"] for r in rows.values()} == {"zeroshot"} and sorted(rows) == [0.0, 0.5, 1.0]
    assert rows[0.0]["clean_acc"] == records[0]["clean_acc"]
    assert (rows[1.0]["clean_acc"], rows[1.0]["adv_acc"]) == (records[-1]["clean_acc"], records[-1]["adv_acc"])
    assert math.isfinite(records[-1]["train_loss"])
