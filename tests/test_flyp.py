"""FLYP (Goyal et al., CVPR 2023; issue 28) on rftlib's tiny CLIP: its loss against a hand computation, what
trains (text tower or not; the head follows the text tower), WiSE-FT through the text tower, a run end to
end, its refusals, and its place in RQ4 (paired with plain fine-tuning from the same zero-shot model)."""
import copy
import json
import math
from pathlib import Path

import open_clip
import pytest
import torch
import yaml

from rftlib import cli
from rftlib.analysis.remedies import base_key, remedy_label
from rftlib.core.errors import RftError
from rftlib.models import build_model
from rftlib.models.clip_names import TINY_CLIP
from rftlib.remedies.interpolation import interpolate_states
from rftlib.runs.config import RunConfig
from rftlib.strategies import apply_strategy, trainable_parameters
from rftlib.training.checkpoint import load_trainable_state, trainable_state
from rftlib.training.flyp import prepare_flyp, template_indices
from rftlib.training.objectives import make_objective

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("cat", "dog", "bird")
TEMPLATES = ("a photo of a {}.", "a drawing of the {}.")


def reference_clip(seed: int = 0):
    from rftlib.models.clip import _register_configs

    _register_configs()
    torch.manual_seed(seed)
    return open_clip.create_model("RFT-Tiny-CLIP", pretrained=None)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("flyp") / "tiny_clip.pt"
    torch.save(reference_clip(0).state_dict(), path)
    return path


def flyp_model(checkpoint, strategy: str = "full", train_text: bool = True):
    model = build_model(TINY_CLIP, len(NAMES), pretrained=str(checkpoint), class_names=NAMES, templates=TEMPLATES,
                        keep_text=True)
    return prepare_flyp(apply_strategy(model, strategy), train_text=train_text)


def test_flyp_loss_is_clips_contrastive_loss_by_hand(checkpoint):
    """½·[CE(s·I·Tᵀ, diag) + CE(s·T·Iᵀ, diag)] over the batch, each image's caption its class under the
    template drawn for (seed, step); two images of one class are negatives of each other, as in FLYP."""
    model = flyp_model(checkpoint).train()
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2, 2, 0])  # class 1 has no image in the batch
    loss, logits = make_objective("flyp", seed=3)(model, images, labels, step=5)
    picks = template_indices(3, 5, 4, len(TEMPLATES)).tolist()
    assert picks == template_indices(3, 5, 4, len(TEMPLATES)).tolist() != template_indices(3, 6, 4, 2).tolist()

    reference, tokenizer = reference_clip(0), open_clip.get_tokenizer("RFT-Tiny-CLIP")
    with torch.no_grad():
        image = reference.encode_image((images - model.mean) / model.std)
        text = reference.encode_text(tokenizer([TEMPLATES[p].format(NAMES[y]) for p, y in zip(picks, labels)]))
        image, text = image / image.norm(dim=1, keepdim=True), text / text.norm(dim=1, keepdim=True)
        pair = (reference.logit_scale.exp() * image @ text.T).tolist()
    rows = [math.log(sum(math.exp(v) for v in pair[i])) - pair[i][i] for i in range(4)]
    columns = [math.log(sum(math.exp(pair[j][i]) for j in range(4))) - pair[i][i] for i in range(4)]
    by_hand = (sum(rows) / 4 + sum(columns) / 4) / 2
    assert abs(loss.item() - by_hand) < 1e-5
    # training accuracy is in-batch: each image's best caption among the batch's classes
    assert logits.shape == (4, 3) and torch.isinf(logits[:, 1]).all() and torch.isfinite(logits[:, [0, 2]]).all()
    for i in range(4):
        best = max(range(4), key=lambda j: pair[i][j])
        assert logits[i].argmax().item() == labels[best].item()


def test_what_trains_and_the_head_follows_the_text_tower(checkpoint):
    """train_text (the paper): the text tower and logit scale train with the strategy's parameters, the
    head does not (it is the zero-shot classifier of the current text tower, recomputed for each
    evaluation); frozen text: the head stays the zero-shot one."""
    images, labels = torch.rand(6, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    for train_text in (True, False):
        model = flyp_model(checkpoint, "lora", train_text)
        named = {k for k, p in model.named_parameters() if p.requires_grad}
        assert all(".lora_" in k or k.startswith("text.") for k in named)
        assert ("text.logit_scale" in named) == train_text and not any(k.startswith("backbone.head") for k in named)
        start_head = model.backbone.head.weight.detach().clone()
        optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for step in range(3):
            loss, _ = make_objective("flyp")(model.train(), images, labels, step=step)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()(images)
        with torch.no_grad():
            expected = model.text.logit_scale.exp() * model.text.class_embeddings()
        assert torch.equal(model.backbone.head.weight, expected)
        assert torch.equal(model.backbone.head.weight, start_head) != train_text
    text_count = sum(p.numel() for p in flyp_model(checkpoint, "lora").text.parameters())
    assert trainable_parameters(flyp_model(checkpoint, "lora"))[0] == 16_384 + text_count  # LoRA + text tower


def test_wise_ft_interpolates_the_text_tower_and_the_head_follows(checkpoint):
    model = flyp_model(checkpoint).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        zero_shot = copy.deepcopy(model)(x)
    start = trainable_state(model)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.02 * torch.randn_like(p))
    end = trainable_state(model)
    with torch.no_grad():
        fine_tuned = model(x)
    assert not torch.equal(zero_shot, fine_tuned)
    for alpha, expected in ((0.0, zero_shot), (1.0, fine_tuned)):
        load_trainable_state(model, interpolate_states(model, start, end, alpha))
        with torch.no_grad():
            assert torch.equal(model(x), expected), alpha


def test_flyp_run_end_to_end(tmp_path, capsys):
    code = cli.main(["run", str(ROOT / "params" / "runs" / "clip_tiny.yaml"), "-p", "objective=flyp",
                     "-p", "strategy=full", "-p", "max_steps=8", "-p", "schedule=[[null, 4]]", "-p", "eval_size=32",
                     "-p", f"output_dir={tmp_path}", "-p", "device=cpu", "-p", "attack.steps=2"])
    assert code == 0, capsys.readouterr().err
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["objective"] == "flyp" and config["objective_options"] == {"train_text": True}
    assert [r["step"] for r in records] == [0, 4, 8] and all(math.isfinite(r["train_loss"]) for r in records[1:])
    rows = {r["alpha"]: r for r in map(json.loads, (run_dir / "wise_ft.jsonl").read_text().splitlines())}
    assert rows[0.0]["clean_acc"] == records[0]["clean_acc"]  # the zero-shot model, text tower included
    assert (rows[1.0]["clean_acc"], rows[1.0]["adv_acc"]) == (records[-1]["clean_acc"], records[-1]["adv_acc"])


def test_flyp_refusals_and_its_rq4_pair(tmp_path):
    tiny = {"model": TINY_CLIP, "pretrained": False, "dataset": "digits", "strategy": "full"}
    with pytest.raises(RftError, match="objective 'flyp' needs an open_clip model"):
        RunConfig.from_dict({**tiny, "model": "vit_tiny_patch16_224", "objective": "flyp"})
    with pytest.raises(RftError, match="lp_ft cannot be combined with objective 'flyp'"):
        RunConfig.from_dict({**tiny, "strategy": "lora", "objective": "flyp", "lp_ft": {}})
    with pytest.raises(RftError, match="unknown flyp objective option 'eps'; valid: train_text"):
        RunConfig.from_dict({**tiny, "objective": "flyp", "objective_options": {"eps": 0.1}})
    with pytest.raises(RftError, match="needs an open_clip model .* built with its text tower"):
        prepare_flyp(build_model(TINY_CLIP, 3, pretrained=False))
    flyp = RunConfig.from_dict({**tiny, "objective": "flyp"}).resolved().to_dict()
    plain = RunConfig.from_dict(tiny).resolved().to_dict()
    assert remedy_label(flyp) == "flyp" and remedy_label(plain) == "plain" and base_key(flyp) == base_key(plain)
    from rftlib.sweep import load_sweep

    sweep = load_sweep(ROOT / "params" / "sweeps" / "clip_rq4.yaml")  # ViT-B/16 (OpenAI): checked, not built
    pairs = {}
    for run in sweep.runs:
        pairs.setdefault(base_key(run.config), []).append(remedy_label(run.config))
    assert len(sweep.runs) == 24 and all(sorted(labels) == ["flyp", "plain"] for labels in pairs.values())


def test_a_killed_flyp_run_resumes_with_identical_records(tmp_path, monkeypatch):
    """The captions are drawn from (seed, step) and the head is recomputed from the restored text tower,
    so a FLYP run killed after its step-4 checkpoint ends with the records and weights of one never killed."""
    from rftlib import finetune
    from training_helpers import die_after_steps, without_timing

    config = {**yaml.safe_load((ROOT / "params" / "runs" / "clip_tiny.yaml").read_text()), "objective": "flyp",
              "strategy": "lora", "max_steps": 8, "schedule": [[None, 4]], "eval_size": 32, "device": "cpu",
              "attack": {"eps": 4 / 255, "alpha": 2 / 255, "steps": 2}, "wise_ft": None}
    reference = finetune(config, run_dir=tmp_path / "reference", progress=False)
    die_after_steps(monkeypatch, 6)
    with pytest.raises(KeyboardInterrupt):
        finetune(config, run_dir=tmp_path / "killed", progress=False)
    monkeypatch.undo()
    assert len((tmp_path / "killed" / "records.jsonl").read_text().splitlines()) == 2  # steps 0 and 4
    resumed = finetune(config, run_dir=tmp_path / "killed", progress=False)
    assert without_timing(resumed.records) == without_timing(reference.records)
    assert (tmp_path / "killed" / "trainable.safetensors").read_bytes() == \
        (tmp_path / "reference" / "trainable.safetensors").read_bytes()


@pytest.mark.parametrize("strategy", ["full", "linear_probe", "lora", "adapter", "compacter", "bitfit", "ia3"])
def test_flyp_trains_every_strategy_and_the_text_tower(checkpoint, strategy):
    """Two FLYP steps move every trainable tensor (the strategy's and the text tower's) and nothing else;
    the head, never trained, is not among them. Linear probing under FLYP trains the text tower alone."""
    from rftlib.training.optim import make_optimizer
    from rftlib.training.step import training_step

    torch.manual_seed(0)
    model = flyp_model(checkpoint, strategy).train()
    images, labels = torch.rand(6, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    trainable = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}
    frozen = {k: p.detach().clone() for k, p in model.named_parameters() if not p.requires_grad}
    assert "backbone.head.weight" in frozen and "text.logit_scale" in trainable
    optimizer = make_optimizer(model, lr=1e-2, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8)
    objective = make_objective("flyp", seed=0)
    for step in range(2):  # two steps: LoRA's A gets no gradient while B is still zero
        loss, _ = training_step(model, optimizer, images, labels, objective=objective, step=step)
        assert torch.isfinite(loss)
    parameters = dict(model.named_parameters())
    assert all(not torch.equal(parameters[k], v) for k, v in trainable.items())
    assert all(torch.equal(parameters[k], v) for k, v in frozen.items())
