"""Fast refusals (issue 16 §4): every bad value the configuration alone decides is refused in one line,
exit status 2, without importing torch or timm (2-4 s of imports on the test machine). Asserts the import
graph in a fresh interpreter, never a time. Also: the torch-free stand-ins agree with what they replace
(timm's registry, torch's device names)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rftlib.core.devices import no_gpu_driver

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "params" / "runs" / "digits_tiny.yaml"  # pretrained: false, full, digits, 16 px

# (overrides of the digits_tiny run, the line's expected text), one or more per kind of refusal.
# WEIGHTS is a file with a pickle's header, EMPTY an empty folder, FILE a plain file.
REFUSALS = [
    # fields: unknown (with its did-you-mean), ill-typed, out of range (even where another field overrides it)
    (["learnig_rate=1"], "unknown run config key 'learnig_rate' (did you mean 'lr'?)"),
    (["batch_size=64.0"], "run config key 'batch_size' must be an integer, got 64.0"),
    (["lr=-1"], "lr must be a finite number > 0, got -1.0"),
    (["epochs=-1"], "epochs must be a finite number > 0, got -1.0"),
    (["eval_size=0"], "eval_size must be a positive integer or 'all', got 0"),
    (["final_model=best_val", "val_fraction=0"], "final_model 'best_val' needs a validation hold-out"),
    # registries: strategy, dataset, objective, attack, model (with its close matches) and its pretrained tag
    (["strategy=lorra"], "unknown strategy 'lorra' (did you mean 'lora'?)"),
    (["dataset=nope"], "unknown dataset 'nope'; valid: caltech256, cifar10, cifar100, cub200, digits, domainnet"),
    (["objective=nope"], "unknown objective 'nope'; valid: flyp, pgd_at, standard, trades"),
    (["attacks=[{name: nope}]"], "unknown attack 'nope'; valid: apgd, apgd_ce_t, apgd_t, autoattack, pgd"),
    (["model=vit_tiny_patch16_22"], "unknown timm model 'vit_tiny_patch16_22' (close: vit_tiny_patch16_224,"),
    (["model=vit_base_patch16_224.nope"], "unknown vit_base_patch16_224 pretrained tag 'nope'; valid: "
                                          "augreg2_in21k_ft_in1k"),
    # strategy options: names and values
    (["strategy_options.r=0"], "strategy 'full' takes no options, got r"),
    (["strategy=lora", "strategy_options.r=0"], "lora option 'r' must be a positive integer, got 0"),
    (["strategy=lora", "strategy_options.targets=[qq]"], "unknown lora target 'qq' (did you mean 'q'?)"),
    (["strategy=adapter", "strategy_options.positions=[x]"], "unknown adapter position 'x'; valid: attn, mlp"),
    (["strategy=compacter", "strategy_options.bottleneck=5"], "compacter option 'bottleneck' (5) must be a multiple"),
    (["strategy=ia3", "strategy_options.rank=2"], "unknown ia3 option 'rank'; valid: targets"),
    # attack options: names and values, each attack's own checks and its class-count checks
    (["attack.eps=-1"], "PGD eps must be > 0, got -1"),
    (["attack.norm=L3"], "attack norm must be one of Linf, L2, L1, got 'L3'"),
    (["attacks=[{name: pgd, foo: 1}]"], "unknown pgd option 'foo'; valid: alpha, early_stop, eps, norm"),
    (["attacks=[{name: apgd, rho: 2}]"], "APGD rho must be in (0, 1), got 2"),
    (["attacks=[{name: apgd_t, targets: 20}]"], "APGD-T targets must be at most classes - 1 = 9, got 20"),
    (["attacks=[{name: apgd_ce_t, norm: L1, eps: 1e9}]"], "eps must be at most d = 768 for L1"),
    (["final_autoattack={targets: 0}"], "AutoAttack targets must be an integer >= 1, got 0"),
    # objective options: names and values
    (["objective=standard", "objective_options.eps=0.1"], "objective 'standard' takes no options, got eps"),
    (["objective=pgd_at", "objective_options.steps=0"], "pgd_at objective option 'steps' must be at least 1"),
    (["objective=trades", "objective_options.eps_schedule={clean: 2}"], "eps_schedule.clean must be a finite"),
    # remedies, curve, corruptions, tracking, schedule
    (["lp_ft={objective: nope}"], "lp_ft: unknown objective 'nope'"),
    (["wise_ft={alphas: [2]}"], "wise_ft alphas[0] must be a finite number in [0, 1], got 2"),
    (["l2_sp={alpha: -1}"], "l2_sp.alpha must be a finite number >= 0, got -1.0"),
    (["robustness_curve={radii: [0.1], attack: {name: apgd, loss: x}}"], "APGD loss must be one of ce, dlr"),
    (["corruptions={names: [nope]}"], "unknown corruption 'nope'; valid: brightness"),
    (["corruptions={}"], "common corruptions need images of at least 32 px"),
    (["tracking={backend: nope}"], "unknown tracking backend 'nope'; valid: mlflow"),
    (["schedule=nope"], "unknown schedule preset 'nope' (did you mean 'none'?)"),
    # weights file, domain, dataset options and path, device name
    (["pretrained=true", "weights=WEIGHTS"], "is a Python pickle, not a torch checkpoint; rftlib loads"),
    (["weights=WEIGHTS"], "was given with pretrained: false; drop one of them"),
    (["domain=real"], "digits has no domains; domain= applies to: domainnet"),
    (["dataset=domainnet", "domain=nope"], "unknown domainnet domain 'nope'; valid: clipart"),
    (["dataset=synthetic", "dataset_options={domains: 1}"], "synthetic option 'domains' must be None or at least 2"),
    (["dataset=feature_model", "dataset_options={eta: -1}"], "feature_model option 'eta' must be > 0, got -1.0"),
    (["dataset=cifar10", "dataset_options={path: EMPTY}"], "path 'EMPTY' holds no files"),
    (["dataset=cifar10", "dataset_options={path: FILE}"], "path 'FILE' is a file, not a folder"),
    (["device=gpu"], "unknown device 'gpu' (a CUDA GPU is 'cuda' or 'cuda:N')"),
    # open_clip models (issue 28): the architecture, pretrained, FLYP and WiSE-FT's zero-shot start
    (["model=open_clip:ViT-B-61"], "unknown open_clip architecture 'ViT-B-61' (did you mean open_clip:ViT-B-16?)"),
    (["pretrained=openai"], "pretrained is true or false for the timm model 'vit_tiny_patch16_224'"),
    (["model=open_clip:RFT-Tiny-CLIP", "model_kwargs={}", "pretrained=/nowhere/clip.pt"],
     "pretrained file not found: /nowhere/clip.pt"),
    (["objective=flyp"], "objective 'flyp' needs an open_clip model (model: open_clip:ViT-B-16, ...)"),
    (["model=open_clip:RFT-Tiny-CLIP", "model_kwargs={}", "objective=flyp", "lp_ft={}"],
     "lp_ft cannot be combined with objective 'flyp'"),
    (["wise_ft={start: zeroshot}"], "wise_ft start 'zeroshot' needs an open_clip model (its zero-shot head)"),
    (["model=open_clip:RFT-Tiny-CLIP", "model_kwargs={}", "objective=flyp", "wise_ft={start: probe}"],
     "wise_ft start 'probe' does not apply to objective 'flyp'"),
]
# On a machine without a GPU driver (CI), asking for CUDA is refused without torch too.
if no_gpu_driver():
    REFUSALS.append((["device=cuda:1"], "device 'cuda:1' asked for, but CUDA is not available here; use cpu or auto"))

PROBE = """
import contextlib, io, json, sys
from rftlib.cli import main

cases, paths = json.loads(sys.argv[1]), json.loads(sys.argv[2])
seen = []
for overrides, sweep in cases:
    for key, value in paths.items():
        overrides = [o.replace(key, value) for o in overrides]
    argv = (["sweep", sweep, "--dry-run"] if sweep
            else ["run", paths["CONFIG"], *[a for o in overrides for a in ("-p", o)]])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    seen.append([code, err.getvalue()])
print(json.dumps({"seen": seen, "imported": [m for m in ("torch", "timm") if m in sys.modules]}))
"""


def test_every_refusal_the_configuration_decides_imports_neither_torch_nor_timm(tmp_path):
    weights, empty, plain = tmp_path / "w.pth", tmp_path / "empty", tmp_path / "plain.txt"
    weights.write_bytes(b"\x80\x04 a pickle, never unpickled")
    empty.mkdir()
    plain.write_text("not a dataset")
    # A sweep whose every run has a bad value: `rft sweep --dry-run` makes the same checks.
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(json.dumps({"notebook": str(ROOT / "notebooks" / "rq1_tradeoff.ipynb"), "reports": {},
                                 "output_dir": str(tmp_path / "out"), "parameters": {"profile": "demo"},
                                 "grid": {"strategy": ["lora", "ia3"], "dataset": ["digits"], "lr": [-1]}}))
    paths = {"CONFIG": str(CONFIG), "WEIGHTS": str(weights), "EMPTY": str(empty), "FILE": str(plain)}
    cases = [[overrides, None] for overrides, _ in REFUSALS] + [[[], str(sweep)]]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(cases), json.dumps(paths)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    expected = [text for _, text in REFUSALS] + ["lr must be a finite number > 0, got -1.0"]
    for (code, err), text, case in zip(result["seen"], expected, cases):
        for key, value in paths.items():
            text = text.replace(key, value)
        assert code == 2 and len(err.strip().splitlines()) == 1 and text in err, (case, code, err)
    assert result["imported"] == []


def test_a_good_configuration_still_checks_the_family_with_torch():
    """The one check that needs the model class (whether its family takes the strategy) still runs,
    after every torch-free one: adapters on a ResNet are refused, by timm's class on the meta device."""
    from rftlib import RunConfig
    from rftlib.core.errors import RftError

    good = RunConfig.from_yaml(CONFIG, ["strategy=lora"])
    assert good.strategy == "lora"
    with pytest.raises(RftError, match="strategy 'adapter' supports the families"):
        RunConfig.from_yaml(CONFIG, ["strategy=adapter", "model=resnet18", "model_kwargs={}"])


def test_the_timm_name_snapshot_is_timms_registry():
    """rftlib/models/timm_names.json answers for the installed timm: regenerate it (python -m rftlib.models.timm_names)
    after upgrading timm, or this fails."""
    import timm

    from rftlib.models import timm_names

    stored = json.loads(timm_names.SNAPSHOT.read_text())
    assert stored["timm"] == timm.__version__
    live = timm_names.live_registry()
    assert stored["models"] == live
    # The lookups answer as timm's own functions do.
    for name in ("vit_base_patch16_224.orig_in21k", "resnet18", "vit_tiny_patch16_224.nope", "nope", "convnext_base"):
        assert timm_names.is_model(name) == timm.is_model(name)
        arch = name.split(".")[0]
        assert timm_names.pretrained_tags(arch) == [n.split(".", 1)[1] for n in timm.list_pretrained(f"{arch}.*")]
        try:
            cfg = timm.get_pretrained_cfg(name)
            size = int(cfg.input_size[-1]) if cfg is not None else None
        except RuntimeError:  # an unknown tag
            size = None
        assert timm_names.default_input_size(name) == size
    assert timm_names.model_names() == timm.list_models()


def test_a_snapshot_of_another_timm_version_is_not_used(tmp_path, monkeypatch):
    from rftlib.models import timm_names

    stale = tmp_path / "timm_names.json"
    stale.write_text(json.dumps({"timm": "0.0.1", "models": {"only_this_model": [224, {}]}}))
    monkeypatch.setattr(timm_names, "SNAPSHOT", stale)
    timm_names._snapshot.cache_clear()
    try:
        assert timm_names._snapshot() is None
        assert timm_names.is_model("vit_tiny_patch16_224") and not timm_names.is_model("only_this_model")
    finally:
        timm_names._snapshot.cache_clear()


@pytest.mark.parametrize("name", ["cpu", "cuda", "cuda:1", "mps", "cpu:0", "mps:0", "gpu", "GPU", "cuda:x", "CPU",
                                  "cuda:-1", "cuda:01", " cpu", "cuda: 1", "cuda:1:2", "", "meta", "xla", "cuda:12"])
def test_device_names_parse_as_torch_parses_them(name):
    """rftlib.core.devices parses names without torch; torch.device is the reference (for the run device types)."""
    import torch

    from rftlib.core.devices import RUN_DEVICE_TYPES, parse_device
    from rftlib.core.errors import RftError

    try:
        device = torch.device(name)
        expected = (device.type, device.index) if device.type in RUN_DEVICE_TYPES else None
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(RftError, match="unknown device"):
            parse_device(name)
    else:
        assert tuple(parse_device(name)) == expected
