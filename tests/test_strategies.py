"""The seven strategies: exact parameter counts, what trains, identities at init, errors, `rft strategies`."""
import copy
import dataclasses
import importlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rftlib.core.errors import RftError
from rftlib.models import build_model
from rftlib.strategies import (
    REGISTRY,
    STRATEGIES,
    apply_strategy,
    strategy_config,
    trainable_parameters,
    training_defaults,
)
from rftlib.strategies._bottleneck import AdaptedLinear
from rftlib.strategies._qkv import SplitQKV, split_qkv
from rftlib.strategies.compacter import PHMLinear
from rftlib.strategies.table import strategy_table

# ---------------------------------------------------------------------------------------------
# Exact counts on ViT-B/16 with a 10-class head (built on the meta device: no allocation).

HEAD = 768 * 10 + 10  # 7,690
BASE = 85_798_656  # ViT-B/16 without a head
EXTRA = {  # parameters each strategy adds, by hand:
    "full": 0,
    "linear_probe": 0,
    # 12 blocks x [3 x (8x768 + 768x8) for q, k, v + (8x768 + 3072x8) fc1 + (8x3072 + 768x8) fc2]
    "lora": 1_179_648,
    # 24 adapters x (768x96 + 96 + 96x768 + 768)
    "adapter": 3_559_680,
    # 24 adapters x [down 4x(192+6) + 24 bias + up 4x(6+192) + 768 bias] + one 4x4x4 rule
    "compacter": 57_024 + 64,
    "bitfit": 0,
    # 12 blocks x (768 for k + 768 for v + 3072 for fc1 + 768 for fc2)
    "ia3": 64_512,
}
TRAINABLE = {  # head included in every strategy
    "full": BASE + HEAD,
    "linear_probe": HEAD,
    "lora": 1_179_648 + HEAD,
    "adapter": 3_559_680 + HEAD,
    "compacter": 57_024 + 64 + HEAD,
    # 12 x (qkv 2304 + proj 768 + fc1 3072 + fc2 768 + 2 norms x 768) + patch embedding 768 + final norm 768
    "bitfit": 102_912 + HEAD,
    "ia3": 64_512 + HEAD,
}
# The paper's model (HF ViTModel) also holds a 768 -> 768 pooler it never uses in classification.
HF_POOLER = 768 * 768 + 768  # 590,592


@pytest.fixture(scope="module")
def vit_b_counts():
    base = build_model("vit_base_patch16_224", num_classes=10, pretrained=False, device="meta")
    return {name: trainable_parameters(apply_strategy(copy.deepcopy(base), name)) for name in STRATEGIES}


def test_exact_counts_vit_b(vit_b_counts):
    for name in STRATEGIES:
        assert vit_b_counts[name] == (TRAINABLE[name], BASE + HEAD + EXTRA[name]), name


def test_fractions_match_the_paper(vit_b_counts):
    ours = {n: t / total for n, (t, total) in vit_b_counts.items()}
    peft = [n for n in STRATEGIES if n not in ("full", "linear_probe")]
    assert min(peft, key=ours.get) == "compacter" and max(peft, key=ours.get) == "adapter"
    # Our exact fractions (timm's ViT has no pooler): 0.0754% and 3.9919%.
    assert vit_b_counts["compacter"] == (64_778, 85_863_434)
    assert vit_b_counts["adapter"] == (3_567_370, 89_366_026)
    assert round(100 * ours["compacter"], 2) == 0.08 and round(100 * ours["adapter"], 2) == 3.99
    # The paper's "0.07%-3.97%" divides by the HF ViTModel total, which counts the unused pooler;
    # with it in the denominator both endpoints round exactly to the paper's numbers.
    paper = {n: t / (total + HF_POOLER) for n, (t, total) in vit_b_counts.items()}
    assert round(100 * paper["compacter"], 2) == 0.07
    assert round(100 * paper["adapter"], 2) == 3.97
    assert all(0.07 <= round(100 * paper[n], 2) <= 3.97 for n in peft)


def test_table_rows_and_cli(capsys):
    rows = strategy_table("vit_base_patch16_224", 10)
    assert [r["strategy"] for r in rows] == list(STRATEGIES)
    assert rows[4]["trainable"] == TRAINABLE["compacter"]
    assert rows[3]["fraction"] == pytest.approx(3_567_370 / 89_366_026)
    from rftlib import cli

    assert cli.main(["strategies", "--model", "test_vit", "--num-classes", "10"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    body = [line for line in lines if line.split()[0] in STRATEGIES]
    assert [line.split()[0] for line in body] == list(STRATEGIES)  # 7 rows, paper order
    assert body[1].split()[1] == "650"  # linear probe on test_vit: 64 x 10 + 10
    cnn = {r["strategy"]: r["trainable"] for r in strategy_table("resnet18", 10)}
    assert cnn["adapter"] is None and cnn["bitfit"] > cnn["linear_probe"] == 512 * 10 + 10


# ---------------------------------------------------------------------------------------------
# What trains: two AdamW steps on a CPU-sized ViT.

def tiny(seed=0, **kwargs):
    torch.manual_seed(seed)
    return build_model("test_vit", num_classes=10, pretrained=False, img_size=32, **kwargs)


def expected_trainable(name: str, param_name: str) -> bool:
    """Which backbone tensors each strategy should train, by name."""
    leaf = param_name.rsplit(".", 1)[-1]
    return param_name.startswith("backbone.head.") or {
        "full": True,
        "linear_probe": False,
        "lora": ".lora_A." in param_name or ".lora_B." in param_name,
        "adapter": ".adapter." in param_name,
        "compacter": ".adapter." in param_name,
        "bitfit": leaf == "bias",
        "ia3": ".ia3_l." in param_name,
    }[name]


@pytest.mark.parametrize("name", STRATEGIES)
def test_training_changes_exactly_the_strategy_tensors(name):
    model = apply_strategy(tiny(), name).train()
    named = dict(model.named_parameters())  # a shared Parameter appears once
    before = {k: p.detach().clone() for k, p in named.items()}
    assert {k for k, p in named.items() if p.requires_grad} == {k for k in named if expected_trainable(name, k)}
    optimiser = torch.optim.AdamW([p for p in named.values() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    torch.manual_seed(1)
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    # two steps: LoRA's A gets no gradient while B is still zero (its first step)
    for _ in range(2):
        optimiser.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimiser.step()
    for key, parameter in named.items():
        if parameter.requires_grad:
            assert not torch.equal(parameter, before[key]), f"{name}: trainable {key} did not change"
        else:
            assert torch.equal(parameter, before[key]), f"{name}: frozen {key} changed"
    assert torch.equal(model.mean, torch.full((1, 3, 1, 1), 0.5))


# ---------------------------------------------------------------------------------------------
# Identities at initialisation and the structure peft builds.

def test_qkv_split_gives_the_same_output():
    model = tiny().eval()
    x = torch.rand(3, 3, 32, 32)
    reference = model(x)
    fused = model.backbone.blocks[0].attn.qkv
    split_qkv(list(model.backbone.blocks))
    parts = model.backbone.blocks[0].attn.qkv
    assert isinstance(parts, SplitQKV) and (parts.q.out_features, parts.k.in_features) == (64, 64)
    assert torch.equal(torch.cat([parts.q.weight, parts.k.weight, parts.v.weight]), fused.weight)
    assert torch.equal(torch.cat([parts.q.bias, parts.k.bias, parts.v.bias]), fused.bias)
    torch.testing.assert_close(model(x), reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["lora", "ia3"])
def test_peft_strategies_start_at_the_pretrained_function(name):
    model = tiny().eval()
    x = torch.rand(3, 3, 32, 32)
    reference = model(x)
    apply_strategy(model, name)
    torch.testing.assert_close(model(x), reference, rtol=0, atol=1e-6)


def test_lora_structure():
    model = apply_strategy(tiny(), "lora")
    block = model.backbone.blocks[0]
    for layer in (block.attn.qkv.q, block.attn.qkv.k, block.attn.qkv.v, block.mlp.fc1, block.mlp.fc2):
        assert layer.lora_A["default"].weight.shape[0] == 8
        assert torch.count_nonzero(layer.lora_B["default"].weight) == 0  # B = 0 at init
        assert layer.scaling["default"] == 1.0  # alpha / r = 8 / 8
    assert type(block.attn.proj) is nn.Linear  # not a target
    assert model.rft_strategy == ("lora", strategy_config("lora"))
    small = apply_strategy(tiny(), "lora", r=2, alpha=4, targets=["v", "fc2"])
    block = small.backbone.blocks[0]
    assert type(block.attn.qkv.q) is nn.Linear and type(block.mlp.fc1) is nn.Linear
    assert block.attn.qkv.v.lora_A["default"].weight.shape == (2, 64) and block.mlp.fc2.scaling["default"] == 2.0


def test_ia3_scales_k_v_fc1_fc2_outputs_not_q():
    model = apply_strategy(tiny(), "ia3")
    for block in model.backbone.blocks:
        assert type(block.attn.qkv.q) is nn.Linear  # q untouched
        for layer, width in ((block.attn.qkv.k, 64), (block.attn.qkv.v, 64), (block.mlp.fc1, 192), (block.mlp.fc2, 64)):
            vector = layer.ia3_l["default"]
            assert vector.shape == (width, 1)  # one scale per OUTPUT feature
            assert not layer.is_feedforward and torch.equal(vector, torch.ones_like(vector))


def test_adapters_sit_after_proj_and_fc2_and_keep_pretrained_names():
    model = tiny()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    apply_strategy(model, "adapter")
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in original.items())  # same keys, same tensors
    for block in model.backbone.blocks:
        for layer in (block.attn.proj, block.mlp.fc2):
            assert isinstance(layer, AdaptedLinear)
            adapter = layer.adapter
            assert (adapter.down.out_features, adapter.up.in_features) == (8, 8)  # 64 / 8
            assert isinstance(adapter.act, nn.GELU)
            assert torch.count_nonzero(adapter.down.bias) == torch.count_nonzero(adapter.up.bias) == 0
    weights = torch.cat([b.mlp.fc2.adapter.down.weight.flatten() for b in model.backbone.blocks])
    assert weights.std().item() == pytest.approx(0.02, rel=0.15)
    h = torch.randn(5, 64)
    adapter = model.backbone.blocks[0].attn.proj.adapter
    torch.testing.assert_close(adapter(h), h + adapter.up(F.gelu(adapter.down(h))))


def test_compacter_phm_layers_share_one_rule():
    model = apply_strategy(tiny(), "compacter")
    phm = [m for m in model.modules() if isinstance(m, PHMLinear)]
    assert len(phm) == 6 * 2 * 2  # blocks x positions x (down, up)
    rule = phm[0].rule
    assert rule.shape == (4, 4, 4) and all(m.rule is rule for m in phm)
    assert sum(p is rule for p in model.parameters()) == 1  # counted once
    down = model.backbone.blocks[0].attn.proj.adapter.down
    assert (down.in_features, down.out_features) == (64, 4)  # 64 // 32 = 2, rounded up to phm_dim 4
    assert down.left.shape == (4, 16, 1) and down.right.shape == (4, 1, 1) and down.bias.shape == (4,)
    # W = sum_i A_i kron (s_i t_i^T), y = x W + b
    kron = sum(torch.kron(rule[i], down.left[i] @ down.right[i]) for i in range(4))
    torch.testing.assert_close(down.weight(), kron)
    x = torch.randn(3, 64)
    torch.testing.assert_close(down(x), x @ kron + down.bias)
    # ViT-B sizes: 768 -> 24 exactly, with the paper's rule and factor shapes
    own = apply_strategy(tiny(), "compacter", bottleneck=8, shared_rule=False)
    rules = {id(m.rule) for m in own.modules() if isinstance(m, PHMLinear)}
    assert len(rules) == 24 and own.backbone.blocks[0].mlp.fc2.adapter.down.out_features == 8


def test_bitfit_trains_every_bias():
    model = apply_strategy(tiny(), "bitfit")
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert {"backbone.patch_embed.proj.bias", "backbone.norm.bias", "backbone.blocks.5.attn.qkv.bias",
            "backbone.blocks.5.norm1.bias", "backbone.blocks.5.mlp.fc1.bias", "backbone.head.weight"} <= trainable
    assert not any(k.endswith("weight") for k in trainable - {"backbone.head.weight"})


def test_trainable_parameters_counts_a_shared_parameter_once():
    layer = nn.Linear(3, 2)
    model = nn.ModuleDict({"a": layer, "b": layer, "c": nn.Linear(2, 1)})
    model["c"].requires_grad_(False)
    assert trainable_parameters(model) == (8, 11)


# ---------------------------------------------------------------------------------------------
# Registry, options, defaults, errors.

def test_registry_order_and_training_defaults():
    assert STRATEGIES == ("full", "linear_probe", "lora", "adapter", "compacter", "bitfit", "ia3")
    assert REGISTRY.names() == list(STRATEGIES)
    assert training_defaults("full") == {"lr": 2e-5, "weight_decay": 0.01, "warmup_steps": 0, "lr_schedule": "linear"}
    for name in STRATEGIES[1:]:
        assert training_defaults(name) == {"lr": 5e-3, "weight_decay": 0.0, "warmup_steps": 800, "lr_schedule": "cosine"}


def test_paper_configurations():
    assert dataclasses.asdict(strategy_config("lora")) == {
        "r": 8, "alpha": 8.0, "dropout": 0.0, "targets": ("q", "k", "v", "fc1", "fc2")}
    assert strategy_config("ia3").targets == ("k", "v", "fc1", "fc2")
    adapter, compacter = strategy_config("adapter"), strategy_config("compacter")
    assert (adapter.reduction_factor, adapter.init_std, adapter.activation) == (8, 0.02, "gelu")
    assert (compacter.reduction_factor, compacter.phm_dim, compacter.phm_rank, compacter.shared_rule) == (32, 4, 1, True)
    assert strategy_config("lora", targets=["q"]).targets == ("q",)  # a list where a tuple is: accepted
    # An integral float is refused, as in every integer field (rftlib.core.validation), never rounded.
    with pytest.raises(RftError, match=r"lora option 'r' must be an integer, got 4.0 \(integer fields take "
                                       r"integers only: write 4\)"):
        strategy_config("lora", r=4.0)


def test_errors():
    with pytest.raises(RftError, match=r"unknown strategy 'lorra' \(did you mean 'lora'\?\); valid: adapter, bitfit, "
                                       r"compacter, full, ia3, linear_probe, lora"):
        apply_strategy(tiny(), "lorra")
    with pytest.raises(RftError, match=r"unknown lora option 'rank'.*valid: alpha, dropout, r, targets"):
        strategy_config("lora", rank=4)
    with pytest.raises(RftError, match=r"lora option 'r' must be an integer"):
        strategy_config("lora", r="eight")
    with pytest.raises(RftError, match=r"lora option 'r' must be a positive integer"):
        strategy_config("lora", r=0)
    with pytest.raises(RftError, match=r"unknown lora target 'qkv'.*valid: q, k, v, proj, fc1, fc2"):
        strategy_config("lora", targets=["qkv"])
    with pytest.raises(RftError, match=r"adapter option 'activation' must be one of"):
        strategy_config("adapter", activation="swish")
    with pytest.raises(RftError, match=r"multiple of phm_dim"):
        strategy_config("compacter", bottleneck=6)
    with pytest.raises(RftError, match=r"'bitfit' takes no options"):
        strategy_config("bitfit", r=8)
    model = apply_strategy(tiny(), "bitfit")
    with pytest.raises(RftError, match="already prepared with strategy 'bitfit'"):
        apply_strategy(model, "lora")
    resnet = build_model("resnet18", num_classes=10, pretrained=False, device="meta")
    with pytest.raises(RftError, match=r"strategy 'adapter' supports the families vit \(VisionTransformer\), "
                                       r"swin \(SwinTransformer\), clip \(ClipImageClassifier\); resnet: .*Rebuffi"):
        apply_strategy(resnet, "adapter")
    assert all(p.requires_grad for p in resnet.parameters())  # left untouched by the failure
    assert trainable_parameters(apply_strategy(resnet, "bitfit"))[0] > 0  # bitfit works on any model


def test_strategy_modules_exist():
    for name in STRATEGIES:
        assert importlib.import_module(f"rftlib.strategies.{name}").apply is REGISTRY.get(name).apply
