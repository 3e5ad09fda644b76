"""Every figure of the reports, and the only room that imports matplotlib and seaborn. One module per
report family, each function returning its matplotlib Figure:

- ``style``: one colour per strategy across all figures, accuracy labels, the notebook theme;
- ``tradeoff`` (RQ1): a run's accuracies against step with 95% bands, its Pareto front, per-attack curves;
- ``pareto`` (RQ2): fronts per dataset, AUC and "% above average" heatmaps with intervals, AUC against size;
- ``ood`` (RQ3): OOD accuracy over training, shift against clean accuracy;
- ``remedies`` (RQ4): remedy fronts against their plain runs, WiSE-FT α-curves;
- ``theory``, ``threat`` (robustness over radii, corruption severities), ``complexity`` (AUC against task
  complexity).

Every figure function is exported here by name and loaded on first use (``from rftlib import figures;
figures.tradeoff_curve(records)``), so importing the package does not import matplotlib.

May use: every room below it (core ... analysis).
"""
from __future__ import annotations

from rftlib.core.lazy import lazy_exports

_EXPORTS = {
    "setup_notebook": "style",
    "PALETTE": "style",
    "ACCURACY_LABELS": "style",
    "tradeoff_markers": "tradeoff",
    "tradeoff_curve": "tradeoff",
    "run_pareto": "tradeoff",
    "tradeoff_bands": "tradeoff",
    "attack_curves": "tradeoff",
    "pareto_fronts": "pareto",
    "auc_heatmap": "pareto",
    "above_average_heatmap": "pareto",
    "trainable_vs_auc": "pareto",
    "interval_heatmap": "pareto",
    "auc_interval_heatmap": "pareto",
    "above_average_interval_heatmap": "pareto",
    "ood_over_steps": "ood",
    "ood_scatter": "ood",
    "shift_vs_clean": "ood",
    "remedy_fronts": "remedies",
    "wise_ft_curves": "remedies",
    "theory_claim": "theory",
    "theory_curves": "theory",
    "theory_threshold": "theory",
    "plot_radius_family": "threat",
    "plot_curves": "threat",
    "plot_severities": "threat",
    "auc_against_measures": "complexity",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
