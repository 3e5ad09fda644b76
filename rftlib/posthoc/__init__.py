"""Remedies applied to finished runs, above training: ``rft wise-ft`` evaluates a WiSE-FT α-curve
(Wortsman et al., CVPR 2022) on a run that has ended, from its saved weights, resumably
(``wise_ft_run``; the command line is ``command``). The same curve at the end of a run, when its
configuration asks for it, is evaluated by ``rftlib.training.wise_ft``.

May use: every room below it (core ... training).
"""
