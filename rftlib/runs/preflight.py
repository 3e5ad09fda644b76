"""Checks of a run configuration against the world outside it, made before a run directory is claimed.

``RunConfig.validated()`` checks each value's type and range; these check what the values point at:
the timm model name (timm's registry, nothing built), whether the model's family takes the strategy
(the model built on the meta device: no memory, no weights), the weights file (its format read from
its first bytes, never unpickled), the device name and the dataset's options, path and domain (the
dataset's own checks, nothing loaded). Each failure is one RftError line.

What only the machine or the data can tell (whether the device is here; a local copy's labels and
class count, by :func:`check_task`) ``rftlib.finetune`` checks after loading the task and before
claiming the run directory.

This module imports neither the training package nor the sweeps nor the results: the configuration
imports it lazily.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from rftlib.core.errors import RftError
from rftlib.models.weights_header import weights_format


def check_model(name: str, model_kwargs: dict, strategy: str, strategy_options: dict,
                num_classes: int | None, pretrained=True, weights: str | None = None) -> None:
    """The model exists (a timm model with its pretrained tag, or an open_clip architecture; no torch),
    ``pretrained`` fits it, and its family takes ``strategy`` (the model built on the meta device:
    torch); an open_clip model's ``pretrained`` tag is checked against open_clip's list (torch)."""
    from rftlib.models.clip_names import is_clip_name
    from rftlib.models.names import check_model_name, check_pretrained

    check_model_name(name)
    check_pretrained(name, pretrained)
    if is_clip_name(name) and isinstance(pretrained, str):
        check_weights(pretrained, True, what="pretrained")  # a checkpoint path; a tag is not a file
    _check_placement(name, json.dumps(model_kwargs, sort_keys=True, default=str), strategy,
                     json.dumps(strategy_options, sort_keys=True, default=str), num_classes or 2)
    if is_clip_name(name):
        from rftlib.models.clip_names import clip_architecture
        from rftlib.models.clip_weights import resolve_source

        resolve_source(clip_architecture(name), pretrained, weights)  # open_clip's tags; true without a file


def check_weights_here(name: str, pretrained, weights: str | None) -> None:
    """What only this machine can tell about the weights, before a run directory is written: hub weights
    asked for (a timm name with ``pretrained: true``, an open_clip tag) are cached or can be downloaded.
    Offline and not cached, one line says what to pass instead."""
    from rftlib.models.clip_names import clip_architecture, is_clip_name

    if is_clip_name(name):
        from rftlib.models.clip_weights import check_reachable, resolve_source

        arch = clip_architecture(name)
        tag = resolve_source(arch, pretrained, weights)[0]
        if tag is not None:
            check_reachable(arch, tag)
    elif pretrained is True and weights is None:
        from rftlib.models.build import check_hub_weights_reachable

        check_hub_weights_reachable(name)


@functools.lru_cache(maxsize=64)  # a sweep validates many runs of few (model, strategy) pairs
def _check_placement(name: str, model_kwargs: str, strategy: str, strategy_options: str, num_classes: int) -> None:
    from rftlib.strategies import check_placement

    model = _meta_model(name, model_kwargs, num_classes)
    if model is not None:
        check_placement(model, strategy, **json.loads(strategy_options))


@functools.lru_cache(maxsize=16)
def _meta_model(name: str, model_kwargs: str, num_classes: int):
    """The model on the meta device, built once for every strategy checked on it (``check_placement``
    changes nothing): a build still costs ~0.1 s of timm's weight init on meta tensors, 40 in the paper's
    sweep. None for a model that cannot be built without memory: the run checks it when it builds it."""
    from rftlib.models import build_model

    try:
        return build_model(name, num_classes, pretrained=False, device="meta", **json.loads(model_kwargs))
    except RftError:
        raise
    except Exception:  # noqa: BLE001
        return None


def check_weights(weights: str | None, pretrained, what: str = "weights") -> None:
    """A weights file asked for with pretrained weights, present, in a format rftlib loads under a
    name timm reads it by (timm, like open_clip, picks safetensors by the ``.safetensors`` suffix).
    ``what="pretrained"``: an open_clip ``pretrained`` value, a tag unless it reads as a path."""
    if weights is None:
        return
    if what == "pretrained":
        from rftlib.models.clip_weights import is_path

        if not is_path(weights):
            return  # a tag, checked against open_clip's list with torch
    path = Path(weights).expanduser()
    if path.is_dir():
        raise RftError(f"{what} {weights!r} is a directory; give the weights file itself")
    if not path.is_file():
        raise RftError(f"{what} file not found: {weights}")
    if not pretrained:
        raise RftError(f"weights {weights!r} was given with pretrained: false; drop one of them")
    is_safetensors = weights_format(path) == "safetensors"
    if is_safetensors != (path.suffix == ".safetensors"):
        actual, rename = ("a safetensors file", "name it *.safetensors") if is_safetensors else \
            ("a torch checkpoint", "rename it (e.g. *.pth)")
        raise RftError(f"weights file {str(path)!r} is {actual}; {rename}: the suffix decides how it is read")


def check_device(name: str) -> None:
    """A device a run can use. Whether this machine has it is checked where the run starts
    (``rftlib.finetune``, before the run directory): a configuration, its run name and a sweep's
    dry run may be made on a machine without the GPUs the runs will use."""
    from rftlib.core.devices import parse_device

    parse_device(name)


def check_dataset(name: str, domain: str | None, options: dict[str, Any]) -> None:
    """The dataset's own options, ``path`` and ``domain``, checked by the dataset without loading it
    (and without torch)."""
    from rftlib.data.checks import DATASET_CHECKS

    check = DATASET_CHECKS.get(name)
    options = dict(options)
    path = options.pop("path", None)
    options.pop("cache_dir", None)
    check(name=name, domain=domain, path=path, options=options)


def check_task(config, task) -> None:
    """What the loaded data tells: the attacks against its class count (APGD-T's targets) and the
    evaluation subset against the test split's size (reported once, in the log)."""
    import warnings

    config.check_attacks(task.num_classes)
    n = len(task.test)
    if isinstance(config.eval_size, int) and n < config.eval_size:
        warnings.warn(f"{task.name}: the test split holds {n} examples, fewer than eval_size {config.eval_size}; "
                      f"every evaluation uses all {n} (the summary's n_eval)", stacklevel=3)


__all__ = ["check_dataset", "check_device", "check_model", "check_task", "check_weights", "check_weights_here",
           "weights_format"]
