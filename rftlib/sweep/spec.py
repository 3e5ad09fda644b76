"""A sweep YAML: its keys, and its expansion into run and report jobs.

::

    name: demo                        # outputs/<name>/ (default: the file's stem)
    notebook: notebooks/rq1_tradeoff.ipynb   # executed once per run (this is the default)
    output_dir: outputs               # default
    kernel: rftlib                    # the Jupyter kernel every notebook runs on (default)
    parameters:                       # fixed values for every run
      profile: demo
    grid:                             # one grid, or a list of grids whose runs are pooled
      strategy: [full, lora]          # a list is an axis: the runs are the product of the axes
      dataset: digits                 # anything else is a fixed value
      dataset_options.separability: [1.0, 0.5]   # a dotted key sets one key of a nested mapping
    reports:                          # aggregate notebooks run after the runs, with their parameters
      notebooks/rq2_pareto.ipynb: {}  # (default: rq2_pareto, rq3_ood, rq4_remedies, theory)
    resources: {cpus: 1, gpus: 0, retries: 2}  # per run: its math threads (both launchers), what a Ray
                                      # task asks for, Ray's reruns after a lost worker or node
    tracking: {}                      # mirror the runs live in MLflow (rftlib.tracking): {uri, experiment,
                                      # backend}; experiment: the sweep's name. Default: off

A key in ``parameters`` or a grid is the name of a parameter the notebook declares or, when the
notebook declares ``overrides``, a RunConfig field (or ``upstream``) passed inside ``overrides``.
Anything else is an error before anything runs. A fine-tuning notebook (one declaring ``profile``
and ``overrides``) has its configuration resolved and checked here (``params.resolve``); an
``upstream`` setting in it is pretrained once, before the runs that start from it
(``rftlib.sweep.upstreams``). Relative paths are relative to the current directory; the defaults point
into the project. Each run gets its own ``run_dir``, ``<output_dir>/<name>/<readable prefix>_<hash>``
with the hash over the run's parameters and resolved configuration (so two configurations never share
a directory), and each report gets ``runs_root`` (``<output_dir>/<name>``) when it declares it.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rftlib.runs.config import apply_overrides
from rftlib.runs.records import DONE
from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass, check_keys
from rftlib.runs.tracking_options import TrackingOptions, tracking_options
from rftlib.core.validation import integer, number
from rftlib.training import params as run_params
from rftlib.sweep.jobs import NAME_KEYS, Job
from rftlib.sweep.parameters import Parameter, check_parameters, declared_parameters

DEFAULT_NOTEBOOK = "notebooks/rq1_tradeoff.ipynb"
DEFAULT_REPORTS = ("notebooks/rq2_pareto.ipynb", "notebooks/rq3_ood.ipynb", "notebooks/rq4_remedies.ipynb",
                   "notebooks/theory.ipynb")
RUN_DIR, RUNS_ROOT, OVERRIDES, PROFILE = "run_dir", "runs_root", "overrides", "profile"
RESERVED = (RUN_DIR, RUNS_ROOT, OVERRIDES)  # set by the sweep itself


@dataclass
class SweepFile:
    """The keys a sweep YAML may hold (see the module docstring)."""

    name: str | None = None
    notebook: str | None = None
    output_dir: str = "outputs"
    kernel: str = "rftlib"
    parameters: dict = field(default_factory=dict)
    grid: dict | list[dict] = field(default_factory=dict)
    reports: dict | None = None
    resources: dict = field(default_factory=dict)
    tracking: dict | None = None


@dataclass
class Resources:
    """What one run asks of a Ray cluster. ``cpus`` is also every run's number of math threads, with
    either launcher and whatever ``--jobs`` is: the thread count changes CPU numerics, so a run's
    records depend on it (``rftlib.core.numerics``) and not on how many runs share the machine."""

    cpus: float = 1
    gpus: float = 0
    retries: int = 2
    """How many times Ray runs a run again whose worker or node died (on another node, resuming from its
    checkpoint); a run that fails in its notebook is not retried."""


@dataclass
class Sweep:
    """An expanded sweep: its runs and reports as jobs, ready to launch."""

    name: str
    path: Path
    root: Path  # <output_dir>/<name>
    runs: list[Job]
    reports: list[Job]
    resources: Resources
    upstreams: list[dict[str, Any]]  # distinct `upstream` settings to pretrain before the runs
    tracking: TrackingOptions | None = None  # the sweep's runs mirrored in MLflow by its driver


def _project_path(relative: str) -> Path:
    return run_params.project_root() / relative


def expand_grid(grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The product of a grid's axes (its list values); other values are fixed."""
    axes = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
    for key, values in axes.items():
        if not values:
            raise RftError(f"grid axis {key!r} is an empty list")
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def _route(values: Mapping[str, Any], declared: Mapping[str, Parameter]) -> dict[str, Any]:
    """Split a run's values into the notebook's parameters and the RunConfig ``overrides``."""
    takes_overrides = OVERRIDES in declared
    valid = [k for k in declared if k not in RESERVED] + (run_params.config_fields() if takes_overrides else [])
    for key in values:
        if key in RESERVED:
            hint = " (give RunConfig fields as keys of their own)" if key == OVERRIDES else ""
            raise RftError(f"{key!r} is set by the sweep{hint}; remove it from the sweep file")
    check_keys({key.split(".")[0]: None for key in values}, valid, "sweep parameter")
    parameters = {key: value for key, value in values.items() if key in declared}
    for key in values:
        if "." in key and key.split(".")[0] in declared:
            raise RftError(f"{key!r}: a dotted key sets a RunConfig field, and {key.split('.')[0]!r} is a notebook parameter")
    if takes_overrides:
        parameters[OVERRIDES] = apply_overrides({}, {k: v for k, v in values.items() if k not in declared})
    return parameters


def _run_config(parameters: Mapping[str, Any], declared: Mapping[str, Parameter]) -> dict[str, Any] | None:
    """The run's resolved configuration when the notebook is a fine-tuning notebook (it declares
    ``profile`` and ``overrides`` and passes its other RunConfig-named parameters on), else None."""
    if PROFILE not in declared or OVERRIDES not in declared:
        return None
    effective = {name: p.default for name, p in declared.items()} | dict(parameters)
    fields = set(run_params.config_fields())
    values = {k: v for k, v in effective.items() if k in fields} | effective[OVERRIDES]
    return run_params.resolve(effective[PROFILE], **values)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def run_name(values: Mapping[str, Any], axes: list[str], identity: Any) -> str:
    """``<dataset>[-<domain>]_<strategy>_s<seed>[_<other axis><value>...]_<hash of identity>``, the
    readable part from whichever of those the run has (as ``RunConfig.run_name`` names runs)."""
    def label(key: str) -> str | None:
        value = values.get(key)
        if value is None and "." in key:  # a dotted axis: the key inside its (resolved) mapping
            value = values
            for part in key.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
        if value is None or isinstance(value, (Mapping, list)):
            return None
        return f"s{value}" if key == "seed" else str(value) if key in NAME_KEYS else f"{key.split('.')[-1]}{value}"

    dataset = "-".join(p for p in (label("dataset"), label("domain")) if p)
    parts = [dataset, label("strategy"), label("seed"), *(label(a) for a in axes if a not in NAME_KEYS)]
    prefix = re.sub(r"[^A-Za-z0-9.=_-]+", "-", "_".join(p for p in parts if p))[:80] or "run"
    return f"{prefix}_{_digest(identity)}"


def _grids(grid: dict | list) -> list[dict]:
    return grid if isinstance(grid, list) else [grid]


def _expand_runs(spec: SweepFile, notebook: Path, root: Path, kernel: str) -> tuple[list[Job], list[dict]]:
    declared = declared_parameters(notebook)
    if RUN_DIR not in declared:
        raise RftError(f"notebook {notebook} must declare the parameter {RUN_DIR!r} (where the run's files go)")
    jobs: dict[str, Job] = {}
    upstreams: dict[str, dict] = {}
    for grid in _grids(spec.grid):
        axes = [k for k, v in grid.items() if isinstance(v, list)]
        for point in expand_grid(grid):
            values = {**spec.parameters, **point}
            parameters = _route(values, declared)
            parameters = check_parameters(notebook, parameters, declared)
            config = _run_config(parameters, declared)
            if config and config.get("tracking") is not None:
                raise RftError("tracking is a key of the sweep file itself (the sweep's driver mirrors every run), "
                               "not of a run's parameters or profile")
            if config and config.get(run_params.UPSTREAM) is not None:
                upstreams[_digest(config[run_params.UPSTREAM])] = config[run_params.UPSTREAM]
            shown = {**(config or {}), **parameters}
            name = run_name(shown, axes, {"notebook": notebook.name, "parameters": parameters, "config": config})
            run_dir = root / name
            if name in jobs:
                warnings.warn(f"grid point {point} repeats run {name}: it runs once", stacklevel=2)
            jobs.setdefault(name, Job(
                name=name, notebook=notebook, output=run_dir / "notebook.ipynb",
                parameters={**parameters, RUN_DIR: str(run_dir)}, kernel=kernel, cwd=Path.cwd(),
                requires=(DONE,), config=config,
            ))
    return list(jobs.values()), list(upstreams.values())


def _expand_reports(spec: SweepFile, root: Path, kernel: str) -> list[Job]:
    reports = spec.reports if spec.reports is not None else {_project_path(p): {} for p in DEFAULT_REPORTS}
    jobs = []
    for path, given in reports.items():
        notebook = Path(path).resolve()
        declared = declared_parameters(notebook)
        if given is not None and not isinstance(given, Mapping):
            raise RftError(f"parameters of report {path} must be a mapping, got {given!r}")
        for key in given or {}:
            if key in RESERVED:
                raise RftError(f"{key!r} is set by the sweep; remove it from report {path}")
        parameters = dict(given or {}) | ({RUNS_ROOT: str(root)} if RUNS_ROOT in declared else {})
        jobs.append(Job(name=notebook.stem, notebook=notebook, output=root / "reports" / f"{notebook.stem}.ipynb",
                        parameters=check_parameters(notebook, parameters, declared), kernel=kernel, cwd=Path.cwd()))
    return jobs


def load_sweep(path: str | Path) -> Sweep:
    """Read, check and expand the sweep YAML at ``path``; nothing is executed."""
    path = Path(path)
    spec = build_dataclass(SweepFile, run_params.load_yaml(path, "sweep file"), "sweep key")
    for grid in _grids(spec.grid):
        if not isinstance(grid, Mapping):
            raise RftError(f"a grid must be a mapping of parameter names to values, got {grid!r}")
    name = spec.name or path.stem
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise RftError(f"sweep name {name!r} must be letters, digits, '.', '_' or '-'")
    root = (Path(spec.output_dir) / name).resolve()
    notebook = Path(spec.notebook).resolve() if spec.notebook else _project_path(DEFAULT_NOTEBOOK)
    runs, upstreams = _expand_runs(spec, notebook, root, spec.kernel)
    resources = build_dataclass(Resources, spec.resources, "resources key")
    number("resources cpus", resources.cpus, low=0, low_open=True)
    number("resources gpus", resources.gpus, low=0)
    integer("resources retries", resources.retries, low=0)
    tracking = tracking_options(spec.tracking, "sweep tracking option")
    return Sweep(name=name, path=path, root=root, runs=runs, reports=_expand_reports(spec, root, spec.kernel),
                 resources=resources, upstreams=upstreams, tracking=tracking)
