"""Run configurations from the YAML files under ``params/``: strategy hyperparameters, profiles on top.

A run's configuration, lowest precedence first:

1. ``RunConfig``'s defaults (the paper's settings);
2. ``params/strategies/<strategy>.yaml``: the strategy's hyperparameters (lr, weight decay, warm-up,
   schedule, strategy options);
3. ``params/profiles/<profile>.yaml``: a setting of the whole study (the paper's, the CPU demo's), with an
   optional ``strategies: {<name>: {...}}`` section for per-strategy changes;
4. the values given: a notebook's parameters, a sweep's grid.

Nested mappings (``strategy_options``, ``dataset_options``, ``attack``, ...) merge key by key. Besides the
``RunConfig`` fields a configuration may hold ``upstream``: a mapping of ``rftlib.training.upstream.pretrain``
arguments (or null); ``run_config`` replaces it by the pretrained weights' path.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rftlib.runs.config import RunConfig
from rftlib.core.errors import RftError, unknown_choice
from rftlib.core.options import build_dataclass, check_keys
from rftlib.core.yamlio import load_yaml

UPSTREAM = "upstream"  # the pseudo-field: weights pretrained on the synthetic upstream task


def project_root() -> Path:
    """The checkout rftlib runs from: the folder holding ``params/`` and ``notebooks/``."""
    return Path(__file__).resolve().parents[2]


def params_dir() -> Path:
    """``$RFT_PARAMS_DIR``, else the project's ``params/``."""
    return Path(os.environ.get("RFT_PARAMS_DIR") or project_root() / "params")


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``; where both hold a mapping under a key, merged recursively."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = deep_merge(merged[key], value)
        merged[key] = value
    return merged


def profiles() -> list[str]:
    """The profile names: the stems of ``params/profiles/*.yaml``."""
    return sorted(p.stem for p in (params_dir() / "profiles").glob("*.yaml"))


def load_profile(name: str) -> dict[str, Any]:
    """The profile's mapping; an unknown name lists the valid ones."""
    path = params_dir() / "profiles" / f"{name}.yaml"
    if not path.is_file():
        raise unknown_choice("profile", name, profiles())
    return load_yaml(path, "profile")


def load_strategy_params(strategy: str) -> dict[str, Any]:
    """The strategy's hyperparameters, {} for a strategy without a file (the strategy check is
    RunConfig's)."""
    path = params_dir() / "strategies" / f"{strategy}.yaml"
    return load_yaml(path, "strategy parameters") if path.is_file() else {}


def config_fields() -> list[str]:
    """The keys a run configuration may hold: RunConfig's fields and ``upstream``."""
    return [*RunConfig.field_names(), UPSTREAM]


def resolve(profile: str = "paper", **values: Any) -> dict[str, Any]:
    """The run configuration of ``values`` under ``profile`` (see the module docstring), as a plain
    mapping; nothing is trained or downloaded. Unknown keys are an RftError naming the closest field."""
    valid = config_fields()
    check_keys(values, valid, "run config field")
    layer = load_profile(profile)
    per_strategy = layer.pop("strategies", None) or {}
    check_keys(layer, valid, f"field of profile {profile!r}")
    strategy = values.get("strategy") or layer.get("strategy") or RunConfig().strategy
    strategy_params = load_strategy_params(strategy)
    check_keys(strategy_params, valid, f"field of params/strategies/{strategy}.yaml")
    strategy_layer = per_strategy.get(strategy, {})
    check_keys(strategy_layer, valid, f"field of profile {profile!r} for {strategy}")
    config: dict[str, Any] = {}
    for update in (strategy_params, layer, strategy_layer, values):
        config = deep_merge(config, update)
    _validate(config)
    return config


def _validate(config: Mapping[str, Any]) -> None:
    """Bad values (an unknown strategy or dataset, a wrong type) fail here, before any run starts."""
    from rftlib.training.upstream import UpstreamConfig, upstream_run  # light: torch loads where the upstream model trains

    RunConfig.from_dict({k: v for k, v in config.items() if k != UPSTREAM})
    upstream = config.get(UPSTREAM)
    if upstream is not None:
        if not isinstance(upstream, Mapping):
            raise RftError(f"upstream must be a mapping of rftlib.training.upstream.pretrain arguments or null, got {upstream!r}")
        build_dataclass(UpstreamConfig, upstream, "upstream option")
        try:  # the pretraining run's own values (steps >= 1, ...): refused here, not in its worker mid-sweep
            upstream_run(**upstream)
        except RftError as error:
            raise RftError(f"upstream: {error}") from None


def pretrained_weights(upstream: Mapping[str, Any]) -> str:
    """The path of the weights ``rftlib.training.upstream.pretrain`` makes (or finds cached) for ``upstream``."""
    from rftlib.training.upstream import pretrain

    return str(pretrain(**upstream))


def run_config(profile: str = "paper", **values: Any) -> dict[str, Any]:
    """The configuration to pass to ``rftlib.finetune``: ``resolve`` with ``upstream`` replaced by the
    path of the pretrained weights (pretrained once, then cached) unless ``weights`` is given."""
    config = resolve(profile, **values)
    upstream = config.pop(UPSTREAM, None)
    if upstream is not None and config.get("weights") is None:
        config["weights"] = pretrained_weights(upstream)
    return config
