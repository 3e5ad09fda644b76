"""Expected wall time of a fine-tuning run from measured throughput: the hook of ``rft sweep --dry-run``.

``estimate_run_seconds(config)`` reads the record ``rft bench`` wrote (``$RFT_BENCH_JSON``, else
``outputs/bench/bench.json``) and returns None whenever it cannot tell: no record, a ``--quick``
record, another model or device, a precision or strategy it did not measure, a dataset whose size it
does not know. The estimate is

    training:   total steps x batch size / (the strategy's fine-tuning images/s)
                x (for pgd_at / trades: the objective's step time over the standard step's, its
                   attack part scaled by the run's training-attack steps over the benchmark's)
    evaluation: evaluations x test images x (PGD time per image + 2 forward passes)
                + evaluations x (OOD images + corrupted images) x 1 forward pass

with PGD time per image scaled by the run's attack steps over the benchmark's, and a forward pass
taken as half of one attack step (a forward plus an input-only backward, about 2 forwards of FLOPs).
Throughput is measured at the benchmark's batch sizes, not the run's; data loading, checkpoints and
an ``upstream`` pretraining (built once and cached) are not counted.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

DEFAULT_JSON = Path("outputs/bench/bench.json")

# Training / test split sizes of the paper's hub datasets (STUDY.md), and DomainNet's per domain, so
# a dry run needs no download. In-memory datasets (digits, synthetic) are loaded instead: it is cheap.
SPLITS = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "caltech256": (24_791, 3_061),
          "cub200": (5_994, 5_794), "stanford_dogs": (14_400, 6_200)}
DOMAINNET = {"clipart": (33_525, 14_604), "infograph": (36_023, 15_582), "painting": (50_416, 21_850),
             "quickdraw": (120_750, 51_750), "real": (120_906, 52_041), "sketch": (48_212, 20_916)}
IN_MEMORY = ("digits", "synthetic")


def estimate_run_seconds(config: dict[str, Any], bench: dict | str | os.PathLike | None = None) -> float | None:
    """Expected seconds of the fine-tuning run ``config`` (a run configuration mapping, as a sweep's
    ``Job.config``) on the machine ``bench`` (a record of ``rft bench``, or its path; default the
    file above), or None when the record cannot tell."""
    from rftlib.runs.config import RunConfig
    from rftlib.core.errors import RftError
    from rftlib.runs.schedule import EvalSchedule

    record = _load(bench)
    if record is None or record.get("config", {}).get("quick"):
        return None
    try:
        run = RunConfig.from_dict({k: v for k, v in config.items() if k != "upstream"}).resolved()
    except RftError:
        return None
    measured = record["config"]
    if not (_same_device(run.device, measured["device"]) and _same_model(run, measured)):
        return None
    train_rate = _rate(record["train"], strategy=run.strategy, precision=run.precision)
    attack_rate = _rate(record["pgd"], name="rftlib bf16" if run.precision == "bf16" else "rftlib fp32")
    sizes = _split_sizes(run)
    if train_rate is None or attack_rate is None or sizes is None:
        return None
    n_train, n_test, n_ood = sizes

    total_steps = run.max_steps or max(1, round(run.epochs * math.ceil(n_train / run.batch_size)))
    evaluations = len(EvalSchedule.from_spec(run.schedule).steps(total_steps))
    subset = (lambda n: n) if run.eval_size == "all" else (lambda n: min(n, run.eval_size))
    attack = run.attack["steps"] / measured["steps"] / attack_rate  # seconds per image
    forward = 1 / attack_rate / measured["steps"] / 2
    forwards_only = subset(n_ood) + _corrupted(run, subset(n_test))
    per_evaluation = subset(n_test) * (attack + 2 * forward) + forwards_only * forward
    objective = _objective_factor(record, run)
    if objective is None:
        return None
    return total_steps * run.batch_size / train_rate * objective + evaluations * per_evaluation


def _objective_factor(record: dict, run) -> float | None:
    """How many standard steps one step of the run's objective costs (1 for standard; None unmeasured)."""
    if run.objective == "standard":
        return 1.0
    for row in record.get("objectives", []):
        if (row.get("status") == "ok" and row.get("objective") == run.objective
                and row.get("precision") == run.precision):
            return 1 + (row["x_standard"] - 1) * run.objective_options["steps"] / row["attack_steps"]
    return None


def _corrupted(run, n_evaluated: int) -> int:
    """Images of the corrupted evaluation sets, each one forward pass per evaluation."""
    if run.corruptions is None:
        return 0
    from rftlib.data.corruptions import corruption_options

    options = corruption_options(run.corruptions)
    size = n_evaluated if options.size is None else min(options.size, n_evaluated)
    return size * len(options.chosen) * len(options.severities)


def _load(bench) -> dict | None:
    if isinstance(bench, dict):
        return bench
    path = Path(bench or os.environ.get("RFT_BENCH_JSON") or DEFAULT_JSON)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _same_device(wanted: str, measured: str) -> bool:
    kind = wanted.split(":")[0]
    return kind == "auto" or kind == measured


def _same_model(run, measured: dict) -> bool:
    """Same architecture (the pretrained tag does not change the cost) and the same timm arguments."""
    import timm

    arch = timm.models.split_model_name_tag(run.model)[0]
    measured_arch = timm.models.split_model_name_tag(measured["model"])[0]
    kwargs = dict(run.model_kwargs)
    if run.image_size is not None:
        kwargs.setdefault("img_size", run.image_size)
    measured_kwargs = dict(measured["model_kwargs"])
    if measured.get("image_size") is not None:  # a CNN's input size is no timm argument
        measured_kwargs.setdefault("img_size", measured["image_size"])
    defaults = _default_geometry(arch)
    return arch == measured_arch and {**defaults, **kwargs} == {**defaults, **measured_kwargs}


def _default_geometry(arch: str) -> dict:
    """The img_size and patch_size timm uses when none is given (224 / 16 for the paper's ViT-B/16)."""
    import timm

    cfg = timm.get_pretrained_cfg(arch)
    size = int(cfg.input_size[-1]) if cfg is not None else 224
    patch = next((int(p[5:]) for p in arch.split("_") if p.startswith("patch") and p[5:].isdigit()), None)
    return {"img_size": size, **({"patch_size": patch} if patch else {})}


def _rate(rows: list[dict], **match) -> float | None:
    """images/s of the first measured row whose fields equal ``match``."""
    for row in rows:
        if row.get("status") == "ok" and row.get("compile") is None and all(row.get(k) == v for k, v in match.items()):
            return row["images_per_s"]
    return None


def _split_sizes(run) -> tuple[int, int, int] | None:
    """(training examples after the validation hold-out, test examples, OOD examples)."""
    if run.dataset in IN_MEMORY:
        from rftlib.data import load_task
        from rftlib.core.errors import RftError

        try:
            task = load_task(run.dataset, image_size=8, seed=run.seed, val_fraction=run.val_fraction,
                             domain=run.domain, **run.dataset_options)
        except RftError:
            return None
        return len(task.train), len(task.test), len(task.ood) if task.ood is not None else 0
    if run.dataset == "domainnet" and run.domain in DOMAINNET:
        train, test = DOMAINNET[run.domain]
        ood = sum(t for d, (_, t) in DOMAINNET.items() if d != run.domain)
    elif run.dataset in SPLITS:
        (train, test), ood = SPLITS[run.dataset], 0
    else:
        return None
    return round(train * (1 - run.val_fraction)), test, ood
