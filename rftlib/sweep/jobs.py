"""A job: one notebook to execute into one output path, and whether it is already done."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rftlib.runs.records import CONFIG
from rftlib.runs.rundir import FAILED, run_status
from rftlib.sweep.execute import marker

NAME_KEYS = ("dataset", "domain", "strategy", "seed")  # what names a run for people, in this order


@dataclass(frozen=True)
class Job:
    """One notebook execution, a sweep's run or one of its reports.

    ``requires`` names further files beside the output that must exist for the job to count as done:
    for a run, the training's ``done`` marker, so a notebook that succeeded without finishing its
    training is run again.
    """

    name: str
    notebook: Path
    output: Path
    parameters: dict[str, Any]
    kernel: str
    cwd: Path
    requires: tuple[str, ...] = ()
    config: dict[str, Any] | None = None  # a fine-tuning run's resolved configuration

    @property
    def summary(self) -> dict[str, Any]:
        """The run's dataset, domain, strategy and seed (those it has), for listings."""
        values = {**(self.config or {}), **self.parameters}
        return {k: values[k] for k in NAME_KEYS if values.get(k) is not None}

    @property
    def directory(self) -> Path:
        return self.output.parent

    @property
    def is_run(self) -> bool:
        """A fine-tuning run (its directory is the run's), not a report."""
        return self.config is not None

    def status(self) -> str:
        """``done``, ``failed`` (its last execution failed), ``started`` (interrupted: an executed
        notebook without a marker, or a success without the training's marker) or ``todo``. A run whose
        directory holds its configuration or a ``failed`` marker has the status ``rftlib.analysis.results`` gives
        it (``rftlib.runs.rundir.run_status``: done, failed, running or unfinished), so the index and the
        reports agree; ``done`` also needs the notebook's own marker (its render)."""
        if self.is_run and ((self.directory / CONFIG).exists() or (self.directory / FAILED).exists()):
            status = run_status(self.directory)
            if status != "done" or marker(self.output, "done").exists():
                return status
        if marker(self.output, "done").exists() and all((self.directory / r).exists() for r in self.requires):
            return "done"
        if marker(self.output, "failed").exists():
            return "failed"
        return "started" if self.output.exists() else "todo"

    def spec(self, env: dict[str, str] | None = None) -> dict[str, Any]:
        """What a worker needs to execute the job (JSON-able): see ``execute.execute_job``."""
        return {"name": self.name, "notebook": str(self.notebook), "output": str(self.output),
                "parameters": self.parameters, "kernel": self.kernel, "cwd": str(self.cwd),
                "env": dict(env or {}), "run_dir": str(self.directory) if self.is_run else None}
