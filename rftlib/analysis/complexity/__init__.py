"""Task complexity under a frozen pretrained backbone: how separable the classes are in its features
and how far the task sits from its upstream data (the paper's explanation of RQ2, measured).

Measures, one module each (in brackets), every docstring citing its paper and formula:

- ``logme(features, labels)``: LogME (You et al., ICML 2021) [evidence];
- ``fisher_ratio(features, labels)``: F1, the maximum Fisher discriminant ratio (Ho & Basu 2002) [fisher];
- ``probe_accuracy(features, labels)``: linear-probe separability at step 0 in a fixed budget [probe];
- ``frechet_distance(a, b)``: Fréchet distance of Gaussian fits, as FID, to an upstream sample [frechet];
- ``leep(upstream_probabilities, labels)``: LEEP (Nguyen et al., ICML 2020), from the upstream head [transfer].

The backbone's features (the input its new head sees, under ``torch.no_grad`` in eval mode) come from
``features``.

``measure_task(config, size=...)`` computes them on a seeded subset of a task's training split
(``measure``); ``measure_sweep`` caches them beside a sweep's runs and ``join_summaries`` adds them to
``rftlib.analysis.results.load_summaries`` (``cache``); ``analysis`` relates them to the strategies' AUC; ``rft
complexity`` is the command line.

May use: every room below analysis (core ... posthoc).
"""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports

# Imported on first use: the sweep calls into ``cache`` without paying for scikit-learn (its figure: ``rftlib.figures.auc_against_measures``).
_EXPORTS = {
    "MEASURES": "measure", "ComplexityOptions": "measure", "format_table": "measure", "measure_task": "measure",
    "join_summaries": "cache", "measure_sweep": "cache", "extract_features": "features",
    "logme": "evidence", "fisher_ratio": "fisher", "probe_accuracy": "probe", "frechet_distance": "frechet",
    "leep": "transfer", "auc_by_task": "analysis", "winner_correlation": "analysis", "paper_reading": "analysis",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
