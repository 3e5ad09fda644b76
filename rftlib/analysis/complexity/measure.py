"""Measure one task: a seeded subset of its training split through the frozen pretrained backbone,
then every complexity measure on those features, each with a 95% interval.

``measure_task(config, size=..., ...)`` takes a run configuration (a ``RunConfig`` mapping: model,
model_kwargs, weights, dataset, dataset_options, domain, image_size; a sweep's ``upstream`` setting
too) and returns a JSON-able dict; ``format_table`` prints it. The upstream sample for the Fréchet
distance is the synthetic upstream task's training split when the configuration has an ``upstream``
setting (the demo), else the image folder given as ``upstream_sample``, else unavailable.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rftlib.runs.config import RunConfig
from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass
from rftlib.analysis.complexity.features import Features, ImageFiles, extract_features, image_files, seeded_subset
from rftlib.analysis.complexity.fisher import fisher_ratio
from rftlib.analysis.complexity.frechet import frechet_distance
from rftlib.analysis.complexity.transfer import leep
from rftlib.analysis.complexity.evidence import logme
from rftlib.analysis.complexity.probe import probe_fold_accuracies

# name -> (+1: higher means a simpler task for the backbone, -1: higher means harder; what it is)
MEASURES: dict[str, tuple[int, str]] = {
    "logme": (+1, "LogME, log maximum evidence of a linear head (You et al. 2021)"),
    "fisher_ratio": (+1, "F1, max per-feature Fisher discriminant ratio (Ho & Basu 2002)"),
    "probe_acc": (+1, "linear-probe accuracy at step 0, 5-fold CV, 100 L-BFGS iterations"),
    "frechet": (-1, "Fréchet distance to the upstream sample's features (as FID)"),
    "leep": (+1, "LEEP from the upstream head's predictions (Nguyen et al. 2020)"),
}
# The fields of a run configuration that decide what the measures see (the run's seed does not: the
# measures use their own seed, so every seed's runs of one task share them).
TASK_FIELDS = ("model", "model_kwargs", "pretrained", "weights", "dataset", "dataset_options", "domain",
               "image_size", "val_fraction")


@dataclass
class ComplexityOptions:
    """How the measures are taken."""

    size: int = 1000
    """Examples of the training split (after the validation hold-out) drawn, seeded, for every measure;
    as many from the upstream sample (all of it when smaller)."""
    seed: int = 0
    """Seeds the subset, the task's own generation and split, the probe's folds and the half-samples."""
    resamples: int = 50
    """Half-samples of the subset for the 95% intervals (delete-d jackknife; 0: no intervals)."""
    upstream_sample: str | None = None
    """A folder of upstream images (e.g. ImageNet's) for the Fréchet distance, for backbones without
    an ``upstream`` setting; without one that measure is unavailable."""
    batch_size: int = 256
    device: str | None = None
    """Where the backbone runs; None: the configuration's device."""

    def validated(self) -> "ComplexityOptions":
        if self.size < 2:
            raise RftError(f"complexity size must be at least 2 examples, got {self.size}")
        if self.seed < 0:
            raise RftError(f"complexity seed must be a non-negative integer, got {self.seed}")
        if self.resamples < 0 or self.batch_size < 1:
            raise RftError(f"resamples must be >= 0 and batch_size >= 1, got {self.resamples} and {self.batch_size}")
        return self


def complexity_options(**options) -> ComplexityOptions:
    return build_dataclass(ComplexityOptions, options, "complexity option").validated()


def task_identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The TASK_FIELDS of a run configuration, RunConfig's defaults where absent."""
    defaults = RunConfig()
    return {name: config.get(name, getattr(defaults, name)) for name in TASK_FIELDS}


def task_label(config: Mapping[str, Any]) -> str:
    """A readable name of the task: ``dataset[-domain]`` and its options that are not sizes or paths,
    e.g. ``synthetic[num_classes=10, separability=2.0]``."""
    identity = task_identity(config)
    name = identity["dataset"] + (f"-{identity['domain']}" if identity["domain"] else "")
    shown = {k: v for k, v in (identity["dataset_options"] or {}).items()
             if k not in ("train_size", "test_size", "path", "cache_dir")}
    return name + (f"[{', '.join(f'{k}={v}' for k, v in shown.items())}]" if shown else "")


def upstream_head(config: Mapping[str, Any]) -> tuple[int, str | None]:
    """(size of the backbone's own upstream classification head, None) or (0, why there is none)."""
    import timm

    from rftlib.models.build import checkpoint_head_size

    if not config["pretrained"]:
        return 0, "a randomly initialised backbone has no upstream head"
    registry = timm.models.get_pretrained_cfg(config["model"])
    if config["weights"] is not None:
        classifier = (registry.classifier if registry else None) or "head"
        size = checkpoint_head_size(Path(config["weights"]).expanduser(), classifier)
    else:
        size = int(registry.num_classes or 0) if registry else 0
    if size <= 0:
        return 0, "the weights carry no upstream classification head (timm's orig_in21k ViTs ship without one)"
    return size, None


def measure_task(config: Mapping[str, Any], progress: Callable[[str], None] | None = None, **options) -> dict:
    """Every measure of the task of ``config`` (a run configuration), as a JSON-able dict (module
    docstring). ``options``: the fields of :class:`ComplexityOptions`."""
    from rftlib.data import load_task
    from rftlib.core.devices import resolve_device
    from rftlib.models.build import build_model
    from rftlib.runs.preflight import check_weights_here
    from rftlib.training.loop import model_image_size

    opts = complexity_options(**options)
    say = progress or (lambda message: None)
    start = time.perf_counter()
    identity = task_identity(config)
    label = task_label(config)
    run_config = RunConfig.from_dict({k: v for k, v in config.items() if k in RunConfig.field_names()})
    upstream = config.get("upstream")
    upstream_files = image_files(opts.upstream_sample) if opts.upstream_sample and not upstream else None
    device = resolve_device(opts.device or run_config.device)

    # offline without cached weights (a timm name, an open_clip tag): fail before the data loads
    check_weights_here(run_config.model, run_config.pretrained, run_config.weights)
    image_size = run_config.image_size or model_image_size(run_config, dict(run_config.model_kwargs))
    say(f"{label}: loading the data")
    task = load_task(run_config.dataset, image_size=image_size, seed=opts.seed, val_fraction=run_config.val_fraction,
                     domain=run_config.domain, **run_config.dataset_options)
    if opts.size < task.num_classes:
        raise RftError(f"a subset of {opts.size} examples is smaller than the {task.num_classes} classes of "
                       f"{label}; use a size of at least {task.num_classes}")
    subset = seeded_subset(task.train, opts.size, opts.seed, f"the training split of {label}")
    reference = _upstream_sample(upstream, upstream_files, image_size, opts)

    head_size, no_head = upstream_head(identity)
    say(f"{label}: features of {opts.size} examples")
    model = build_model(run_config.model, num_classes=head_size, pretrained=run_config.pretrained,
                        weights=run_config.weights, **run_config.model_kwargs).to(device)
    downstream = extract_features(model, subset, opts.batch_size, upstream_head=head_size > 0)
    upstream_features = extract_features(model, reference, opts.batch_size).features if reference is not None else None
    del model

    no_reference = ("no upstream sample: pass upstream_sample=FOLDER (e.g. ImageNet images) for these weights"
                    if reference is None else None)
    measures = compute_measures(downstream, upstream_features, opts.resamples, opts.seed,
                                unavailable={"frechet": no_reference, "leep": no_head})
    return {
        "task": label, **identity, "num_classes": task.num_classes, "feature_dim": int(downstream.features.shape[1]),
        "samples": len(subset), "upstream_samples": None if reference is None else len(reference),
        "upstream_source": ("upstream task " + str(upstream.get("dataset", "synthetic")) if upstream
                            else opts.upstream_sample),
        "options": dataclasses.asdict(opts), "measures": measures,
        "seconds": round(time.perf_counter() - start, 2),
    }


def _upstream_sample(upstream: Mapping | None, files: list[Path] | None, image_size: int, opts: ComplexityOptions):
    """The upstream images to compare with: the synthetic upstream task's training split, or the
    user's image folder, at most ``size`` of them (seeded); None when there are none."""
    if upstream:
        from rftlib.data import load_task
        from rftlib.training.upstream import UpstreamConfig

        settings = build_dataclass(UpstreamConfig, dict(upstream), "upstream option")
        sample = load_task(settings.dataset, image_size=image_size, seed=settings.seed,
                           **settings.dataset_options).train
    elif files:
        sample = ImageFiles(files, image_size)
    else:
        return None
    return seeded_subset(sample, min(opts.size, len(sample)), opts.seed, "the upstream sample")


def compute_measures(downstream: Features, upstream_features: np.ndarray | None, resamples: int, seed: int,
                     unavailable: Mapping[str, str | None]) -> dict[str, dict]:
    """Each measure's value and 95% interval: ± 1.96 standard errors from seeded half-samples
    (``_with_interval``; both sets for the Fréchet distance), for the probe over its folds."""
    import torch
    from threadpoolctl import threadpool_limits

    x, y = downstream.features, downstream.labels
    rng = np.random.default_rng(seed)
    functions = {
        "logme": lambda idx: logme(x[idx], y[idx]),
        "fisher_ratio": lambda idx: fisher_ratio(x[idx], y[idx]),
    }
    if downstream.upstream_probabilities is not None:
        theta = downstream.upstream_probabilities
        functions["leep"] = lambda idx: leep(theta[idx], y[idx])
    measures: dict[str, dict] = {}
    # As many BLAS threads as torch uses (one per job in a sweep or a test), not one per core each.
    with threadpool_limits(torch.get_num_threads()):
        for name, function in functions.items():
            measures[name] = _with_interval(function, [len(x)], resamples, rng)
        folds = probe_fold_accuracies(x, y, seed=seed)
        spread = 1.96 * folds.std(ddof=1) / math.sqrt(len(folds)) if len(folds) > 1 else float("nan")
        measures["probe_acc"] = {"value": float(folds.mean()), "low": float(folds.mean() - spread),
                                 "high": float(folds.mean() + spread)}
        if upstream_features is not None:
            measures["frechet"] = _with_interval(
                lambda a, b: frechet_distance(x[a], upstream_features[b]), [len(x), len(upstream_features)],
                resamples, rng)
    for name, reason in unavailable.items():
        if name not in measures:
            measures[name] = {"value": None, "low": None, "high": None, "unavailable": reason}
    return {name: measures[name] for name in MEASURES}


def _with_interval(function, sizes: list[int], resamples: int, rng: np.random.Generator) -> dict:
    """``function`` on all the samples, with value ± 1.96 standard errors from a delete-d jackknife with
    d = n/2 (Shao and Wu, Ann. Statist. 17(3), 1989): the spread of ``function`` over ``resamples``
    half-samples drawn without replacement from each of the index ranges ``sizes``. Half-samples, not a
    bootstrap with replacement: duplicated rows look like extra evidence to LogME and bias it upwards
    (on digits its bootstrap interval lay wholly above the value)."""
    value = function(*[np.arange(n) for n in sizes])
    if resamples == 0:
        return {"value": value, "low": None, "high": None}
    draws = []
    for _ in range(resamples):
        try:
            draws.append(function(*[rng.choice(n, size=max(n // 2, 2), replace=False) for n in sizes]))
        except RftError:  # a half-sample that lost all but one class: no value, not a failure
            continue
    draws = np.asarray(draws, dtype=np.float64)
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2 or not math.isfinite(value):
        return {"value": value, "low": None, "high": None}
    spread = 1.96 * float(draws.std(ddof=1))  # (n - d) / d = 1 for d = n/2: no rescaling
    return {"value": value, "low": value - spread, "high": value + spread}


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def format_table(result: Mapping[str, Any]) -> str:
    """The measures of one task as a text table."""
    lines = [f"task {result['task']}: {result['samples']} training examples, {result['num_classes']} classes, "
             f"{result['feature_dim']}-d features of {result['model']}",
             f"{'measure':<13} {'value':>10} {'95% interval':>22}  higher = ",
             "-" * 70]
    for name, (direction, what) in MEASURES.items():
        entry = result["measures"][name]
        sense = "simpler" if direction > 0 else "harder "
        if entry["value"] is None:
            lines.append(f"{name:<13} {'n/a':>10} {'':>22}  {sense}  unavailable: {entry['unavailable']}")
            continue
        interval = (f"[{entry['low']:.4g}, {entry['high']:.4g}]" if entry["low"] is not None else "")
        lines.append(f"{name:<13} {entry['value']:>10.4g} {interval:>22}  {sense}  {what}")
    return "\n".join(lines)
