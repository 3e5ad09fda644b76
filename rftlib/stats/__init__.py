"""Estimates and their uncertainty, with no knowledge of runs: interval methods (``intervals``: Wilson,
Newcombe's paired difference, bootstrap) and Pareto frontiers and the area under them (``pareto``).

``rftlib.stats.wilson_interval`` and the other interval methods are exported here from ``intervals``.

May use: core.
"""
from rftlib.core.lazy import lazy_exports

_INTERVALS = ("CONFIDENCE", "bootstrap_rng", "difference_interval_from_counts", "mean_interval",
              "paired_difference_interval", "paired_table", "percentile_interval", "resample_indices",
              "wilson_interval")
__all__ = list(_INTERVALS)
# Loaded on first use: importing ``rftlib.stats.pareto`` does not pay for scipy.
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(_INTERVALS, "intervals"))
