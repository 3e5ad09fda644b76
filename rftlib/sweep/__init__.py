"""Sweeps of parameterised notebooks: expand a YAML grid, execute each run's notebook with papermill
(locally, N at a time, or as Ray tasks), render it to HTML, then execute the aggregate reports.

``rft sweep`` is the command line (``command.py``); the pieces:

- ``spec``: the sweep YAML and its expansion into jobs (format in its docstring);
- ``params``: run configurations from ``params/`` (strategy hyperparameters, profiles);
- ``parameters``: a notebook's declared parameters and the check of given values;
- ``execute``: one notebook job (papermill, HTML, markers), in a worker;
- ``launch``: the local and Ray launchers; ``runner``: the sweep's order of work; ``index``: the
  reports' index page; ``cost``: the dry run's cost estimate hook.
"""
from __future__ import annotations

from .params import resolve, run_config
from .runner import SweepResult, run_sweep
from .spec import Sweep, load_sweep

__all__ = ["Sweep", "SweepResult", "load_sweep", "resolve", "run_config", "run_sweep"]
