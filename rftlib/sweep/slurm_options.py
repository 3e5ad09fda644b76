"""A sweep's ``slurm:`` block: what each SLURM job asks for, checked before anything is submitted.

::

    slurm:
      partition: gpu            # default: the cluster's default partition
      account: my-lab           # --account (default: yours)
      qos: normal               # --qos
      timeout_min: 240          # each job's time limit; a run that reaches it is requeued and resumes
      gpus_per_node: 1          # GPUs per run (gres gpu:N; the run sees them in CUDA_VISIBLE_DEVICES)
      cpus_per_task: 8          # default: resources.cpus (each run's math threads)
      mem_gb: 32                # default: the partition's default memory per CPU
      constraint: a100          # --constraint
      array_parallelism: 16     # runs of the array at a time (default: all)
      signal_delay_s: 120       # SIGUSR2 this long before the time limit: the run stops and is requeued
      max_requeues: 10          # a run stopped (time limit, preemption, requeue) more often is failed
      setup: [module load cuda] # shell lines before each job's command (modules, environments)
      extra: {mail-type: END}   # any other sbatch option, by its long name, without the dashes

``rft sweep ... --slurm KEY=VALUE`` overrides one key (values read as YAML; ``extra.mail-user=me@x``).
``slurm_options`` checks every value here (one line each, no cluster needed); ``check_request``
(``rftlib.sweep.slurm_submit``) then asks the cluster itself with ``sbatch --test-only``. Light to import.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rftlib.runs.config import apply_overrides
from rftlib.core.errors import RftError
from rftlib.core.options import build_dataclass
from rftlib.core.validation import integer, number

# sbatch options rftlib or submitit set themselves: an `extra` entry may not change them.
RESERVED_OPTIONS = {"array": None, "output": None, "error": None, "open-mode": None, "signal": "signal_delay_s",
                    "job-name": None, "dependency": None, "wrap": None, "time": "timeout_min",
                    "partition": "partition", "account": "account", "qos": "qos", "gres": "gpus_per_node",
                    "gpus-per-node": "gpus_per_node", "cpus-per-task": "cpus_per_task", "mem": "mem_gb",
                    "constraint": "constraint", "requeue": None, "no-requeue": None}
_OPTION_NAME = re.compile(r"[a-z][a-z0-9-]*")


@dataclass
class SlurmOptions:
    """The keys of a sweep's ``slurm:`` block (see the module docstring)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    timeout_min: int = 240
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    constraint: str | None = None
    array_parallelism: int | None = None
    signal_delay_s: int = 120
    max_requeues: int = 10
    setup: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def cpus(self, resources_cpus: float) -> int:
        """CPUs per job: ``cpus_per_task``, else the sweep's ``resources.cpus`` rounded up."""
        return self.cpus_per_task if self.cpus_per_task is not None else max(1, math.ceil(resources_cpus))

    def gpus(self, resources_gpus: float) -> int:
        """GPUs per job: ``gpus_per_node``, else the sweep's ``resources.gpus`` rounded up."""
        return self.gpus_per_node if self.gpus_per_node is not None else math.ceil(resources_gpus)

    def executor_parameters(self, resources_cpus: float, resources_gpus: float) -> dict[str, Any]:
        """submitit's ``SlurmExecutor.update_parameters`` for a job of this sweep (no array, no dependency).
        GPUs go as a gres request (``--gres=gpu:N``): the one form every SLURM version schedules and maps
        to ``CUDA_VISIBLE_DEVICES``."""
        gpus = self.gpus(resources_gpus)
        parameters = {"time": self.timeout_min, "cpus_per_task": self.cpus(resources_cpus),
                      "signal_delay_s": self.signal_delay_s, "partition": self.partition,
                      "account": self.account, "qos": self.qos, "constraint": self.constraint,
                      "gres": f"gpu:{gpus}" if gpus else None,
                      "mem": f"{_megabytes(self.mem_gb)}MB" if self.mem_gb else None,
                      "setup": list(self.setup) or None,
                      "additional_parameters": {k: v for k, v in self.extra.items()} or None}
        return {k: v for k, v in parameters.items() if v is not None}


def _megabytes(gigabytes: float) -> int:
    return max(1, round(gigabytes * 1024))


def _text(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value)):
        raise RftError(f"slurm {name} must be a name without spaces, got {value!r}")


def _check_extra(extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if not isinstance(key, str) or not _OPTION_NAME.fullmatch(key):
            raise RftError(f"slurm extra: {key!r} is not an sbatch option name; give its long name without the "
                           f"dashes, e.g. mail-type")
        if key in RESERVED_OPTIONS:
            own = RESERVED_OPTIONS[key]
            raise RftError(f"slurm extra: {key!r} is set by rftlib" + (f"; use the slurm key {own!r}" if own else ""))
        if isinstance(value, (Mapping, list)) or value is None or value is False:
            raise RftError(f"slurm extra {key!r} must be a single value (true for a flag), got {value!r}")


def slurm_options(block: Mapping[str, Any] | None, overrides: list[str] | None = None) -> SlurmOptions:
    """The checked options of a ``slurm:`` block (None: all defaults) with ``--slurm KEY=VALUE`` ``overrides``."""
    if block is not None and not isinstance(block, Mapping):
        raise RftError(f"slurm must be a mapping of options (partition, timeout_min, ...), got {block!r}")
    try:
        values = apply_overrides(dict(block or {}), overrides or [])
    except RftError as error:
        raise RftError(f"--slurm: {error}") from None
    options = build_dataclass(SlurmOptions, values, "slurm key")
    for name in ("partition", "account", "qos", "constraint"):
        _text(name, getattr(options, name))
    integer("slurm timeout_min", options.timeout_min, low=1)
    integer("slurm gpus_per_node", options.gpus_per_node, low=0, optional=True)
    integer("slurm cpus_per_task", options.cpus_per_task, low=1, optional=True)
    number("slurm mem_gb", options.mem_gb, low=0, low_open=True, optional=True)
    integer("slurm array_parallelism", options.array_parallelism, low=1, optional=True)
    integer("slurm signal_delay_s", options.signal_delay_s, low=1)
    if options.signal_delay_s >= options.timeout_min * 60:
        raise RftError(f"slurm signal_delay_s ({options.signal_delay_s}) must be shorter than the time limit "
                       f"(timeout_min {options.timeout_min} = {options.timeout_min * 60} s)")
    integer("slurm max_requeues", options.max_requeues, low=0)
    for line in options.setup:
        if not isinstance(line, str):
            raise RftError(f"slurm setup must be a list of shell lines, got {line!r}")
    _check_extra(options.extra)
    return options


__all__ = ["RESERVED_OPTIONS", "SlurmOptions", "slurm_options"]
