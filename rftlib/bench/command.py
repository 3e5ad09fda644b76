"""``rft bench``: options, defaults per device, the run, the printed tables and the JSON record."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rftlib.runs.config import PAPER_MODEL
from rftlib.core.errors import RftError
from rftlib.core.yamlio import parse_yaml
from rftlib.bench.estimate import DEFAULT_JSON

if TYPE_CHECKING:  # annotations only: torch loads where the benchmark runs
    import torch

# torch and the benchmark's sections are imported where they run: `rft bench --help` and a bad
# option are answered without them.

SCHEMA = 1
SECTIONS = ("pgd", "apgd", "evaluation", "threat", "train")  # train: the strategies' steps and the training objectives
# threat: L2 PGD against torchattacks' PGDL2 and one robustness curve against the per-radius loop
CPU_MODEL = "vit_tiny_patch16_224"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--model", help=f"timm model (default: {PAPER_MODEL} on CUDA, {CPU_MODEL} at 32 px / patch 4 on CPU)")
    add("--img-size", type=int, help="input side in pixels (default: 224 on CUDA, 32 on CPU)")
    add("--patch-size", type=int, help="ViT/Swin patch size (default: 16 on CUDA, 4 on CPU; the family's "
                                       "tiny model's with --quick)")
    add("--model-option", action="append", default=[], metavar="KEY=VALUE",
        help="further timm.create_model argument, value read as YAML (e.g. depth=2); repeatable")
    add("--batch", type=int, help="PGD batch (default: 256 on CUDA, 32 on CPU, 4 with --quick)")
    add("--train-batch", type=int, help="fine-tuning batch (default: 128 on CUDA, 32 on CPU, 4 with --quick)")
    add("--train-precision", help="fine-tuning precisions, comma-separated, of fp32 and bf16 "
                                  "(default: fp32,bf16 on CUDA, fp32 on CPU)")
    add("--steps", type=int, help="PGD steps (default: 15; 3 with --quick)")
    add("--eps", default="1/255", help="PGD radius in pixel units, a number or a fraction (default: 1/255)")
    add("--alpha", default="0.25/255", help="PGD step size (default: 0.25/255)")
    add("--apgd-steps", type=int, help="APGD iterations of the APGD rows (default: 100 on CUDA, 25 on CPU, 4 with --quick)")
    add("--apgd-targets", type=int, help="APGD-T target classes (default: 9 on CUDA, 3 on CPU, 2 with --quick)")
    add("--l2-eps", type=float, default=0.5,
        help="L2 radius of the threat rows (PGD-L2; the curve goes up to it), in L2 pixel units (default: 0.5)")
    add("--eval-clean-acc", type=float, default=0.5,
        help="clean accuracy of the whole-evaluation rows, as early in fine-tuning (default: 0.5)")
    add("--sections", default=",".join(SECTIONS),
        help=f"what to measure, comma-separated, of {', '.join(SECTIONS)} (default: all)")
    add("--repeats", type=int,
        help="timed calls per variant, round-robin, median reported (default: 5; 1 with --quick)")
    add("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    add("--threads", type=int, help="CPU threads for torch (default: torch's own, one per core)")
    add("--seed", type=int, default=0, help="seeds the model, the images and the attacks' random start")
    add("--quick", action="store_true",
        help="CI-sized: the model family's tiny configuration (a 2-block ViT by default) at 32 px, batch 4, "
             "PGD-3, one repeat, no compile; seconds")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--compile", dest="compile", action="store_true", default=None,
                       help="include the torch.compile rows (default: yes, except with --quick)")
    group.add_argument("--skip-compile", dest="compile", action="store_false", help="leave out the torch.compile rows")
    add("--json", default=str(DEFAULT_JSON), metavar="PATH",
        help=f"where to write the JSON record (default: {DEFAULT_JSON}, which `rft sweep --dry-run` reads)")


def command(args: argparse.Namespace) -> int:
    from rftlib.bench.report import format_result

    config = resolve(args)
    result = run_bench(config)
    print(format_result(result))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


def resolve(args: argparse.Namespace) -> dict:
    """The benchmark's settings: the options given, the device's defaults for the rest."""
    from rftlib.strategies.families import family_of_name

    for name in ("img_size", "patch_size", "batch", "train_batch", "steps", "repeats", "threads", "apgd_steps",
                 "apgd_targets"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise RftError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not args.l2_eps > 0:
        raise RftError(f"--l2-eps must be > 0, got {args.l2_eps}")
    if not 0 <= args.eval_clean_acc <= 1:
        raise RftError(f"--eval-clean-acc must be in [0, 1], got {args.eval_clean_acc}")
    device = _device(args.device)
    gpu, quick = device.type == "cuda", args.quick
    full_gpu = gpu and not quick

    def pick(value, quick_default, gpu_default, cpu_default):
        if value is not None:
            return value
        return quick_default if quick else gpu_default if gpu else cpu_default

    model = args.model or (PAPER_MODEL if full_gpu else CPU_MODEL)
    family = family_of_name(model)  # also: an unknown model name fails here, before anything runs
    image_size = pick(args.img_size, 32, 224, 32)
    sizes = {"img_size": image_size, "patch_size": pick(args.patch_size, 4, 16, 4)}
    # Only the size arguments the family's constructor takes (a CNN takes none: its input is just the
    # images' size); for a model of no family, those given explicitly.
    takes = family.size_kwargs if family else [k for k in sizes if getattr(args, k) is not None]
    model_kwargs = {k: sizes[k] for k in takes}
    if quick and family is not None:
        model_kwargs.update({k: v for k, v in family.tiny[1].items() if getattr(args, k, None) is None})
    model_kwargs.update(_key_values(args.model_option))
    return {
        "model": model,
        "model_kwargs": model_kwargs,
        "image_size": model_kwargs.get("img_size", image_size),
        "batch": pick(args.batch, 4, 256, 32),
        "train_batch": pick(args.train_batch, 4, 128, 32),
        "train_precisions": _precisions(args.train_precision or ("fp32,bf16" if gpu else "fp32")),
        "steps": pick(args.steps, 3, 15, 15),
        "eps": _fraction(args.eps, "--eps"),
        "alpha": _fraction(args.alpha, "--alpha"),
        "repeats": pick(args.repeats, 1, 5, 5),
        "apgd_steps": pick(args.apgd_steps, 4, 100, 25),
        "apgd_targets": pick(args.apgd_targets, 2, 9, 3),
        "eval_clean_acc": args.eval_clean_acc,
        "l2_eps": args.l2_eps,
        "sections": _sections(args.sections),
        "device": device.type,
        "device_index": str(device),
        "threads": args.threads,
        "seed": args.seed,
        "quick": quick,
        "compile": (not quick) if args.compile is None else args.compile,
        "num_classes": 10,
        # The training attack's steps in the objective rows: the objectives' default, 2 when quick.
        "objective_steps": 2 if quick else 10,
    }


def run_bench(config: dict) -> dict:
    """Run the whole benchmark for a resolved ``config`` (see :func:`resolve`); returns the record."""
    import torch

    from rftlib.models import build_model
    from rftlib.bench.apgd import bench_apgd, bench_evaluation
    from rftlib.bench.objectives import bench_objectives
    from rftlib.bench.pgd import bench_pgd
    from rftlib.bench.remedies import bench_remedies
    from rftlib.bench.threat import bench_threat
    from rftlib.bench.report import add_peak_fractions, environment, targets
    from rftlib.bench.timing import matmul_peak
    from rftlib.bench.train import bench_train

    device = torch.device(config["device_index"])
    if device.type == "cuda":
        torch.cuda.set_device(device)  # CUDA events and the peak's tensors go to the current device
    if config.get("threads"):
        torch.set_num_threads(config["threads"])
    torch.manual_seed(config["seed"])

    def build():
        return build_model(config["model"], config["num_classes"], pretrained=False, **config["model_kwargs"])

    _log("measuring the matmul peak")
    peak = matmul_peak(device, quick=config["quick"])

    model = build().to(device)
    side = config.get("image_size") or model.image_size
    height, width = (side, side) if isinstance(side, int) else side
    generator = torch.Generator().manual_seed(config["seed"])
    images = torch.rand(config["batch"], 3, height, width, generator=generator).to(device)
    sections = config.get("sections", SECTIONS)
    pgd, apgd, evaluation, threat, train, objectives, remedies = [], [], [], [], [], [], []
    if "pgd" in sections:
        _log(f"PGD: {config['model']} on {device}, batch {config['batch']}, {config['steps']} steps")
        pgd = bench_pgd(model, images, eps=config["eps"], alpha=config["alpha"], steps=config["steps"],
                        repeats=config["repeats"], compile=config["compile"], seed=config["seed"])
    if "apgd" in sections:
        _log(f"APGD: {config['apgd_steps']} steps, APGD-T over {config['apgd_targets']} targets, against pyautoattack")
        apgd = bench_apgd(model, images, eps=config["eps"], steps=config["apgd_steps"],
                          targets=config["apgd_targets"], repeats=config["repeats"], seed=config["seed"])
    if "evaluation" in sections:
        _log(f"one whole evaluation of {2 * config['batch']} points at clean accuracy {config['eval_clean_acc']}")
        evaluation_images = torch.rand(2 * config["batch"], 3, height, width, generator=generator).to(device)
        evaluation = bench_evaluation(model, evaluation_images, eps=config["eps"], alpha=config["alpha"],
                                      steps=config["steps"], clean_acc=config["eval_clean_acc"],
                                      batch=config["batch"], repeats=config["repeats"], seed=config["seed"])
    if "threat" in sections:
        l2_eps = config.get("l2_eps", 0.5)
        _log(f"threat models: PGD-L2 eps {l2_eps} against torchattacks PGDL2; a robustness curve of 4 radii")
        threat = bench_threat(model, images, eps=l2_eps, steps=config["steps"], repeats=config["repeats"],
                              seed=config["seed"])
    del model, images
    _release(device)

    if "train" in sections:
        _log(f"fine-tuning: the strategies the model takes, batch {config['train_batch']}, "
             f"{', '.join(config['train_precisions'])}")
        images = torch.rand(config["train_batch"], 3, height, width, generator=generator).to(device)
        labels = torch.randint(0, config["num_classes"], (config["train_batch"],), generator=generator).to(device)
        train = bench_train(build, images, labels, precisions=tuple(config["train_precisions"]),
                            repeats=config["repeats"], compile=config["compile"])
        _release(device)
        _log(f"fine-tuning objectives: standard, pgd_at, trades (PGD-{config['objective_steps']} training attack)")
        objectives = bench_objectives(build, images, labels, precisions=tuple(config["train_precisions"]),
                                      repeats=config["repeats"], attack_steps=config["objective_steps"],
                                      eps=config["eps"])
        _release(device)
        _log("remedies (RQ4): L2-SP and eps-scheduling against the plain step; the others counted")
        remedies = bench_remedies(build, images, labels, precision=config["train_precisions"][0],
                                  repeats=config["repeats"], attack_steps=config["objective_steps"], eps=config["eps"])
        _release(device)

    # Measured again at the end, the better of the two kept: on a shared machine one measurement
    # may land in a burst of load the benchmark itself did not see.
    peak = max(peak, matmul_peak(device, quick=config["quick"]), key=lambda p: p["flops_per_s"])
    for rows in (pgd, train):
        add_peak_fractions(rows, peak["flops_per_s"])
    result = {"schema": SCHEMA, "config": config, "environment": environment(device), "peak": peak,
              "pgd": pgd, "train": train, "objectives": objectives, "remedies": remedies, "apgd": apgd, "evaluation": evaluation,
              "threat": threat}
    result["targets"] = targets(result)
    return result


def _device(name: str) -> torch.device:
    from rftlib.core.devices import resolve_device

    device = resolve_device(name)
    if device.type not in ("cpu", "cuda"):
        raise RftError(f"rft bench runs on cpu or cuda, got {name!r}")
    return device


def _fraction(text: str, what: str) -> float:
    """``0.0039``, ``1/255`` or ``0.25/255`` as a float in (0, 1]."""
    try:
        numerator, _, denominator = str(text).partition("/")
        value = float(numerator) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        raise RftError(f"{what} must be a number or a fraction like 1/255, got {text!r}") from None
    if not 0 < value <= 1:
        raise RftError(f"{what} must be in (0, 1] (pixel units; 1/255 is one grey level), got {text!r}")
    return value


def _sections(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in SECTIONS]
    if bad or not names:
        raise RftError(f"--sections takes a comma-separated choice of {', '.join(SECTIONS)}, got {text!r}")
    return list(dict.fromkeys(names))


def _precisions(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in ("fp32", "bf16")]
    if bad or not names:
        raise RftError(f"--train-precision takes fp32, bf16 or fp32,bf16, got {text!r}")
    return list(dict.fromkeys(names))


def _key_values(items: list[str]) -> dict:
    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RftError(f"--model-option takes KEY=VALUE, got {item!r}")
        values[key.strip()] = parse_yaml(raw, f"--model-option {item!r}")
    return values


def _release(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()


def _log(message: str) -> None:
    print(f"rft bench: {message}", file=sys.stderr, flush=True)
