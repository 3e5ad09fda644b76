"""What a run is and what it writes: the run configuration and its checks (``config``: ``RunConfig``, every
value checked before anything loads; ``objective_options``, ``tracking_options``; ``preflight``: what the
configuration points at, read without building anything), the evaluation schedule (``schedule``), and the
run directory (``rundir``: names derived from the configuration, the lock, ``done``/``failed`` markers;
``records``: the files a run writes and their loading; ``outcomes``: per-sample outcomes as ``.npz``).

Light to import: nothing here imports torch.

May use: core, stats, models, strategies, data, attacks, remedies.
"""
