"""Remedies for the robustness trade-off (RQ4): options that compose with every strategy, backbone and
objective, whose runs land in the same records, Pareto frontiers and reports.

One module per remedy:

- ``wise_ft``: weight-space ensembling of the start and fine-tuned models (Wortsman et al., CVPR 2022);
- ``lp_ft``: a linear probe first, then fine-tuning from that head (Kumar et al., ICLR 2022; with a robust
  probe objective, RoLI, Hua et al., CVPR 2024); ``probe_head`` fits the head both use;
- ``l2_sp``: a penalty pulling the weights towards their starting point (Li, Grandvalet & Davoine, ICML 2018);
- ``eps_schedule``: adversarial training whose radius ramps up from clean (Ngnawé et al.);
- robust checkpoint selection: ``final_model: robust_val`` (``rftlib.training.best``).
- ``checks``: the checks of l2_sp, eps_schedule and selection_tolerance (no torch, called by RunConfig.validated);
- ``analysis``, ``figures``: the RQ4 report (remedy runs against their plain counterparts, paired intervals);
- helpers of WiSE-FT / LP-FT: ``interpolation`` (θ_α per strategy), ``wise_lp_options`` (their checks), ``wise_ft_command``.

Modules are imported where used: importing this package loads nothing heavy.
"""
