"""What the finished runs say: loading them into tidy frames (``results``: finished runs only, with how
many were left out), error bars and verdicts (``uncertainty``: per-evaluation intervals, the drop from the
robustness peak), attacks compared (``calibration``), robustness over radii and corruption severities
(``threat``, ``threat_reports``), distribution shift against clean accuracy (``shift``), the remedies
against their plain runs (``remedies``), the theory's feature model (``theory``) and task complexity
(``complexity``). Frames and tables only: their figures are in ``rftlib.figures``.

May use: every room below it (core ... posthoc).
"""
