"""Sweeps of parameterised notebooks: expand a YAML grid, execute each run's notebook with papermill
(locally, N at a time, or as Ray tasks), render it to HTML, then execute the aggregate reports.

``rft sweep`` is the command line (``command.py``); the pieces:

- ``spec``: the sweep YAML and its expansion into jobs (format in its docstring);
- ``params``: run configurations from ``params/`` (strategy hyperparameters, profiles);
- ``parameters``: a notebook's declared parameters and the check of given values;
- ``execute``: one notebook job (papermill, HTML, markers), in a worker;
- ``launch``: the local and Ray launchers; ``runner``: the sweep's order of work; ``index``: the
  reports' index page; ``cost``: the dry run's cost estimate hook.

The names below are loaded from their modules on first use (PEP 562): ``rftlib.complexity.cache``
reads ``sweep.params`` while ``sweep.runner`` runs the complexity measures, and importing one module
of this package must not load the others (no import cycle through this package).
"""
from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {"resolve": "params", "run_config": "params", "SweepResult": "runner", "run_sweep": "runner",
            "Sweep": "spec", "load_sweep": "spec"}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
