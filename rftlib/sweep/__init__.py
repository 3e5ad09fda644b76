"""Sweeps of parameterised notebooks: expand a YAML grid, execute each run's notebook with papermill
(locally, N at a time, or as Ray tasks), render it to HTML, then execute the aggregate reports.

``rft sweep`` is the command line (``command.py``); the pieces:

- ``spec``: the sweep YAML and its expansion into jobs (format in its docstring);
- ``parameters``: a notebook's declared parameters and the check of given values;
- ``execute``: one notebook job (papermill, HTML, markers), in a worker;
- ``launch``: the local and Ray launchers; ``runner``: the sweep's order of work; ``index``: the
  reports' index page; ``cost``: the dry run's cost estimate hook.

Run configurations from ``params/`` (``resolve``, ``run_config``) live in ``rftlib.training.params`` and
are exported here too. The names below are loaded from their modules on first use (PEP 562), so
importing one module of this package does not load the others.

May use: every room below it (core ... figures).
"""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports

_EXPORTS = {"resolve": "rftlib.training.params", "run_config": "rftlib.training.params", "SweepResult": "runner", "run_sweep": "runner",
            "Sweep": "spec", "load_sweep": "spec"}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
