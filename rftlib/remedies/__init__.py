"""Remedies for the robustness trade-off (RQ4) that plug into training, below it: options that compose
with every strategy, backbone and objective, whose runs land in the same records, Pareto frontiers and
reports.

One module per remedy:

- ``l2_sp``: a penalty pulling the weights towards their starting point (Li, Grandvalet & Davoine, ICML 2018);
- ``eps_schedule``: adversarial training whose radius ramps up from clean (Ngnawé et al.);
- ``interpolation``: θ_α = (1 − α)·θ_start + α·θ_end per strategy, the weight arithmetic of WiSE-FT
  (Wortsman et al., CVPR 2022);
- ``checks`` and ``wise_lp_options``: the checks of l2_sp, eps_schedule, selection_tolerance, wise_ft and
  lp_ft (no torch, called by ``RunConfig.validated``).

Where the other remedies live, by the direction they point:

- training stages (``rftlib.training``): LP-FT's probe stage (``lp_ft``, ``probe_head``; Kumar et al.,
  ICLR 2022), robust checkpoint selection (``final_model: robust_val``, ``best``), and the WiSE-FT
  α-curve at the end of a run (``wise_ft``);
- over finished runs (``rftlib.posthoc``): ``rft wise-ft``;
- the RQ4 report: ``rftlib.analysis.remedies`` and ``rftlib.figures.remedies``.

Modules are imported where used: importing this package loads nothing heavy.

May use: core, stats, models, strategies, data, attacks.
"""
