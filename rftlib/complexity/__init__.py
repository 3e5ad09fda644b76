"""Task complexity under a frozen pretrained backbone: how separable the classes are in its features
and how far the task sits from its upstream data (the paper's explanation of RQ2, measured).

Measures, one module each, every docstring citing its paper and formula:

- ``logme(features, labels)``: LogME (You et al., ICML 2021);
- ``fisher_ratio(features, labels)``: F1, the maximum Fisher discriminant ratio (Ho & Basu 2002);
- ``probe_accuracy(features, labels)``: linear-probe separability at step 0 in a fixed budget;
- ``frechet_distance(a, b)``: Fréchet distance of Gaussian fits, as FID, to an upstream sample;
- ``leep(upstream_probabilities, labels)``: LEEP (Nguyen et al., ICML 2020), from the upstream head.

``measure_task(config, size=...)`` computes them on a seeded subset of a task's training split
(``measure``); ``measure_sweep`` caches them beside a sweep's runs and ``join_summaries`` adds them to
``rftlib.results.load_summaries`` (``cache``); ``analysis`` relates them to the strategies' AUC; ``rft
complexity`` is the command line.
"""
from __future__ import annotations

from .analysis import auc_by_task, paper_reading, winner_correlation
from .cache import join_summaries, measure_sweep
from .features import extract_features
from .fisher import fisher_ratio
from .frechet import frechet_distance
from .leep import leep
from .logme import logme
from .measure import MEASURES, ComplexityOptions, format_table, measure_task
from .plots import auc_against_measures
from .probe import probe_accuracy

__all__ = [
    "MEASURES", "ComplexityOptions", "auc_against_measures", "auc_by_task", "extract_features", "fisher_ratio",
    "format_table", "frechet_distance", "join_summaries", "leep", "logme", "measure_sweep", "measure_task",
    "paper_reading", "probe_accuracy", "winner_correlation",
]
