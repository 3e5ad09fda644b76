"""rftlib.attacks: PGD bounds, agreement with torchattacks, no side effects on the model, determinism."""
import copy

import pytest
import timm
import torch
import torchattacks
from torch import nn

from rftlib.attacks import ATTACKS, PGD, make_attack
from rftlib.core.errors import RftError

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

EPS = 2 / 255  # large enough that the attack flips about half the predictions of the test model
ALPHA = 0.5 / 255
STEPS = 8


class Normalised(nn.Module):
    """Takes [0, 1] images and normalises them with mean = std = 0.5, like the study's models."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net((x - 0.5) / 0.5)


@pytest.fixture(scope="module")
def base_model():
    torch.manual_seed(0)
    net = timm.create_model("test_vit", pretrained=False, num_classes=10, img_size=32, patch_size=4)
    return Normalised(net).eval()


@pytest.fixture
def model(base_model):
    return copy.deepcopy(base_model)


@pytest.fixture(scope="module")
def data(base_model):
    """Images with some pixels exactly 0 and 1 (so clamping matters), labelled by the model itself so
    that clean accuracy is 100% and every robust-accuracy drop is the attack's doing."""
    g = torch.Generator().manual_seed(1)
    images = torch.rand(24, 3, 32, 32, generator=g)
    images[:, :, :4] = 0.0
    images[:, :, -4:] = 1.0
    with torch.no_grad():
        labels = base_model(images).argmax(dim=1)
    return images, labels


def robust_correct(model, adv, labels):
    with torch.no_grad():
        return (model(adv).argmax(dim=1) == labels).sum().item()


def reference(model, **kwargs):
    return torchattacks.PGD(model, **kwargs)


# --- bounds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("random_start", [True, False])
@pytest.mark.parametrize("eps", [1 / 255, 8 / 255])
def test_stays_in_eps_ball_and_unit_box(model, data, random_start, eps):
    images, labels = data
    adv = PGD(model, eps=eps, alpha=eps / 2, steps=4, random_start=random_start)(
        images, labels, generator=torch.Generator().manual_seed(0)
    )
    assert adv.shape == images.shape and adv.dtype == images.dtype and adv.device == images.device
    assert (adv - images).abs().max().item() <= eps + 1e-6
    assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0
    # Steps of eps/2 for 4 steps: most pixels end on the ball's surface (or on the box's edge).
    assert (adv - images).abs().max().item() > eps * 0.99


def test_defaults_are_the_studys(model):
    attack = PGD(model)
    assert (attack.eps, attack.alpha, attack.steps) == (1 / 255, 0.25 / 255, 15)
    assert attack.random_start and not attack.early_stop and attack.autocast_dtype is None


# --- against the reference ------------------------------------------------------------------------


def test_matches_torchattacks_without_random_start(base_model, data):
    # float64: our projection is one clamp to [max(x - eps, 0), min(x + eps, 1)] and our loss a sum,
    # torchattacks' a subtract/clamp/add/clamp and a mean. Equal in exact arithmetic; in float32 the
    # rounding differences can flip the sign of a gradient component that is nearly zero, moving one
    # pixel by alpha. In float64 that does not happen, so the images must agree to rounding.
    model = copy.deepcopy(base_model).double()
    images, labels = data[0].double(), data[1]
    kwargs = dict(eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)
    ours = PGD(model, **kwargs)(images, labels)
    ref = reference(model, **kwargs)(images, labels)
    assert (ref - images).abs().max() > EPS / 2  # the attack did move the images
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


def test_matches_torchattacks_with_the_same_random_start(base_model, data):
    # A fresh CPU generator and the global CPU generator seeded alike draw the same numbers, so both
    # attacks start from the same point and must agree as above.
    model = copy.deepcopy(base_model).double()
    images, labels = data[0].double(), data[1]
    kwargs = dict(eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    ours = PGD(model, **kwargs)(images, labels, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(7)
    ref = reference(model, **kwargs)(images, labels)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


def test_at_least_as_strong_as_torchattacks_with_random_start(model, data):
    # float32, as the study runs. Seeds are paired (same starting noise for both), so the comparison
    # is not drowned in the noise of the random start: what is left is rounding, worth at most a
    # sample here and there.
    images, labels = data
    kwargs = dict(eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    ours_attack, ref_attack = PGD(model, **kwargs), reference(model, **kwargs)
    ours_correct = ref_correct = 0
    ours_loss = ref_loss = 0.0
    seeds = range(3)
    for seed in seeds:
        ours = ours_attack(images, labels, generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        ref = ref_attack(images, labels)
        ours_correct += robust_correct(model, ours, labels)
        ref_correct += robust_correct(model, ref, labels)
        with torch.no_grad():
            ours_loss += nn.functional.cross_entropy(model(ours), labels).item()
            ref_loss += nn.functional.cross_entropy(model(ref), labels).item()
    total = len(seeds) * len(labels)
    assert 0 < ref_correct < total  # the attack flips some predictions but not all: a real contest
    assert ours_correct <= ref_correct + 1
    assert ours_loss >= ref_loss * (1 - 1e-3)


def test_early_stop_returns_the_first_fooling_iterate(base_model, data):
    # float64, same start: early stop follows the same trajectory as the plain attack and stops each
    # sample at its first fooling iterate (iterate 0 is the random start, iterate `steps` the last).
    model = copy.deepcopy(base_model).double()
    images, labels = data[0].double(), data[1]
    kwargs = dict(eps=EPS, alpha=ALPHA, steps=STEPS)
    iterates = []
    handle = model.register_forward_pre_hook(lambda module, args: iterates.append(args[0].detach().clone()))
    try:
        last = PGD(model, **kwargs)(images, labels, generator=torch.Generator().manual_seed(3))
    finally:
        handle.remove()
    union = PGD(model, early_stop=True, **kwargs)(images, labels, generator=torch.Generator().manual_seed(3))
    trajectory = torch.stack(iterates + [last])  # (steps + 1, N, C, H, W)
    with torch.no_grad():
        fooled = torch.stack([model(x).argmax(1) != labels for x in trajectory])  # (steps + 1, N)
    first = torch.where(fooled.any(0), fooled.int().argmax(0), STEPS)  # last iterate if never fooled
    assert len(set(first[fooled.any(0)].tolist())) > 1  # samples are first fooled at different steps
    torch.testing.assert_close(union, trajectory[first, torch.arange(len(labels))], rtol=0, atol=1e-12)
    # hence every sample the last iterate breaks, early stop breaks too (the union over iterates)
    assert robust_correct(model, union, labels) <= robust_correct(model, last, labels)


def test_batch_composition_does_not_matter(base_model, data):
    # Sum-reduced loss and eval mode: each sample's attack depends on that sample only.
    model = copy.deepcopy(base_model).double()
    images, labels = data[0].double(), data[1]
    attack = PGD(model, eps=EPS, alpha=ALPHA, steps=4, random_start=False)
    whole = attack(images, labels)
    halves = torch.cat([attack(images[:10], labels[:10]), attack(images[10:], labels[10:])])
    torch.testing.assert_close(whole, halves, rtol=0, atol=1e-12)


# --- side effects ---------------------------------------------------------------------------------


def _modes(model):
    return {name: module.training for name, module in model.named_modules()}


def _flags(model):
    return {name: p.requires_grad for name, p in model.named_parameters()}


def test_leaves_the_model_as_it_found_it(model, data):
    images, labels = data
    net = model.net
    model.train()
    net.blocks[0].eval()  # a frozen part in eval mode inside a model in train mode
    net.patch_embed.eval()
    for p in net.blocks[1].parameters():
        p.requires_grad_(False)  # partially frozen
    net.head.weight.grad = torch.full_like(net.head.weight, 3.0)  # a pending gradient
    modes, flags = _modes(model), _flags(model)
    assert len(set(modes.values())) == 2 and len(set(flags.values())) == 2

    seen = {}

    def record(module, args):
        seen["modes"] = {m.training for m in model.modules()}
        seen["flags"] = {p.requires_grad for p in model.parameters()}

    handle = model.register_forward_pre_hook(record)
    try:
        PGD(model, eps=EPS, alpha=ALPHA, steps=2)(images[:4], labels[:4])
    finally:
        handle.remove()

    assert seen == {"modes": {False}, "flags": {False}}  # eval mode, no weight gradients during the attack
    assert _modes(model) == modes
    assert _flags(model) == flags
    for name, p in model.named_parameters():
        if name == "net.head.weight":
            assert torch.equal(p.grad, torch.full_like(p, 3.0))
        else:
            assert p.grad is None, name


def test_restores_the_model_when_the_attack_fails(model, data):
    images, _ = data
    model.train()
    model.net.blocks[0].eval()
    model.net.head.weight.requires_grad_(False)
    modes, flags = _modes(model), _flags(model)
    with pytest.raises((IndexError, RuntimeError)):
        PGD(model, steps=1)(images[:2], torch.tensor([0, 99]))  # label out of range: fails in the loss
    assert _modes(model) == modes and _flags(model) == flags


def test_runs_under_no_grad_but_not_inference_mode(model, data):
    images, labels = data
    attack = PGD(model, steps=1)
    with torch.no_grad():
        adv = attack(images[:2], labels[:2])
    assert not adv.requires_grad
    with torch.inference_mode():
        frozen_images = images[:2].clone()
        with pytest.raises(RftError, match="inference_mode"):
            attack(frozen_images, labels[:2])
    # an inference tensor as input is fine outside inference mode
    assert attack(frozen_images, labels[:2]).shape == frozen_images.shape


def test_empty_batch(model):
    images = torch.rand(0, 3, 32, 32)
    assert PGD(model)(images, torch.zeros(0, dtype=torch.long)).shape == images.shape


# --- low precision --------------------------------------------------------------------------------


def test_bf16_autocast_on_cpu(model, data):
    images, labels = data
    dtypes = []
    handle = model.net.head.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    try:
        adv = PGD(model, eps=EPS, alpha=ALPHA, steps=3, autocast_dtype=torch.bfloat16)(
            images, labels, generator=torch.Generator().manual_seed(0)
        )
    finally:
        handle.remove()
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the forward did run in bf16
    assert adv.dtype == torch.float32  # the iterate did not
    assert (adv - images).abs().max().item() <= EPS + 1e-6
    assert adv.min().item() >= 0 and adv.max().item() <= 1
    assert robust_correct(model, adv, labels) < len(labels)


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_images_and_global_rng_untouched(model, data):
    images, labels = data
    attack = PGD(model, eps=EPS, alpha=ALPHA, steps=2)
    state = torch.get_rng_state()
    a = attack(images, labels, generator=torch.Generator().manual_seed(5))
    b = attack(images, labels, generator=torch.Generator().manual_seed(5))
    c = attack(images, labels, generator=torch.Generator().manual_seed(6))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # Without a generator the global RNG is what draws the start (so the check above can fail).
    attack(images, labels)
    assert not torch.equal(torch.get_rng_state(), state)


# --- errors and registry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eps=0), "eps must be > 0"),
        (dict(eps=-1 / 255), "eps must be > 0"),
        (dict(eps=8), "eps must be at most 1"),
        (dict(eps=float("nan")), "eps must be a finite number"),
        (dict(alpha=0), "alpha must be > 0"),
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(steps=2.5), "steps must be an integer >= 1"),
        (dict(random_start="yes"), "random_start must be true or false"),
        (dict(autocast_dtype=torch.float64), "autocast_dtype must be"),
    ],
)
def test_bad_options(model, kwargs, match):
    with pytest.raises(RftError, match=match):
        PGD(model, **kwargs)


@pytest.mark.parametrize(
    "images, labels, match",
    [
        (torch.full((2, 3, 32, 32), 1.5), torch.zeros(2, dtype=torch.long), r"must be in \[0, 1\]"),
        (torch.full((2, 3, 32, 32), -0.1), torch.zeros(2, dtype=torch.long), r"must be in \[0, 1\]"),
        (torch.full((2, 3, 32, 32), float("nan")), torch.zeros(2, dtype=torch.long), r"must be in \[0, 1\]"),
        (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), "floating-point"),
        (torch.zeros(2, 3, 32, 32), torch.zeros(3, dtype=torch.long), r"labels must have shape \(2,\)"),
        (torch.zeros(2, 3, 32, 32), torch.zeros(2), "integer tensor"),
    ],
)
def test_bad_inputs(model, images, labels, match):
    with pytest.raises(RftError, match=match) as info:
        PGD(model)(images, labels)
    assert "\n" not in str(info.value)


def test_make_attack(model):
    assert ATTACKS.names() == ["pgd", "apgd", "apgd_t", "apgd_ce_t", "autoattack"]
    attack = make_attack("pgd", model, eps=8 / 255, steps=3)
    assert isinstance(attack, PGD) and attack.eps == 8 / 255 and attack.steps == 3
    with pytest.raises(RftError, match=r"unknown attack 'pdg' \(did you mean 'pgd'\?\); valid: apgd, .*, pgd$"):
        make_attack("pdg", model)
    with pytest.raises(RftError, match=r"unknown pgd option 'epsilon'.*valid: .*eps"):
        make_attack("pgd", model, epsilon=1 / 255)


# --- CUDA -----------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.gpu
def test_cuda_generators_and_bounds(base_model, data):
    model = copy.deepcopy(base_model).cuda()
    images, labels = data[0].cuda(), data[1].cuda()
    attack = PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS)
    cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state()
    for device in ("cpu", "cuda"):  # a CPU generator for CUDA images draws on the CPU and moves
        a = attack(images, labels, generator=torch.Generator(device=device).manual_seed(0))
        b = attack(images, labels, generator=torch.Generator(device=device).manual_seed(0))
        assert a.device == images.device and torch.equal(a, b)
        assert (a - images).abs().max().item() <= EPS + 1e-6 and a.min() >= 0 and a.max() <= 1
    assert torch.equal(torch.get_rng_state(), cpu_state) and torch.equal(torch.cuda.get_rng_state(), cuda_state)
    # Same start on CPU and GPU, float64: same result up to rounding.
    cpu = PGD(copy.deepcopy(base_model).double(), eps=EPS, alpha=ALPHA, steps=STEPS)(
        data[0].double(), data[1], generator=torch.Generator().manual_seed(0)
    )
    gpu = PGD(model.double(), eps=EPS, alpha=ALPHA, steps=STEPS)(
        images.double(), labels, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-9)


@needs_cuda
@pytest.mark.gpu
def test_cuda_bf16_autocast(base_model, data):
    model = copy.deepcopy(base_model).cuda()
    images, labels = data[0].cuda(), data[1].cuda()
    adv = PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, autocast_dtype=torch.bfloat16)(images, labels)
    assert adv.dtype == torch.float32
    assert (adv - images).abs().max().item() <= EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert robust_correct(model, adv, labels) < len(labels)
