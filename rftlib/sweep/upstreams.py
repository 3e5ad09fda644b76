"""A sweep's upstream pretraining, in worker processes beside its runs.

Each distinct ``upstream`` setting of a sweep's runs is pretrained once (``rftlib.training.upstream.pretrain``, which
caches it) before any run that starts from it, never by the runs themselves: they would race on the cache.
It runs in a worker process with a slot's environment, like a run, so the backbone's bits depend on the
sweep's thread count (``resources.cpus``), not on how many cores the driver's machine has; and the local
launcher starts the runs of a finished upstream while the others still pretrain (``launch.run_local``).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rftlib.sweep.execute import die_with_parent, run_worker, worker_error
from rftlib.training.params import UPSTREAM


def upstream_key(upstream: Mapping[str, Any] | None) -> str | None:
    """A hashable name of an ``upstream`` setting; None for a run without one."""
    return None if upstream is None else json.dumps(upstream, sort_keys=True, default=str)


def missing_upstreams(upstreams: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The settings among ``upstreams`` whose backbone is not pretrained yet, by ``upstream_key``."""
    from rftlib.training.upstream import cached_weights

    return {upstream_key(u): dict(u) for u in upstreams if cached_weights(**u) is None}


def job_upstream(job) -> str | None:
    """The ``upstream_key`` of a sweep job's run (None for a report or a run without one)."""
    return upstream_key((job.config or {}).get(UPSTREAM))


def upstream_failure(error: str) -> str:
    """The error of a run that never started because its upstream failed to pretrain."""
    return f"upstream pretraining failed: {error}"


def pretrain_in_worker(upstream: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Pretrain ``upstream`` in a fresh process with ``env`` added to this one's: (the weights' path,
    None) or (None, the error's last line). The worker dies with this process."""
    done = run_worker("rftlib.sweep.upstreams", json.dumps(dict(upstream)), dict(env))
    if done.returncode == 0:
        return done.stdout.strip().splitlines()[-1], None
    return None, worker_error(done)


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: the upstream setting as one JSON argument, then the driver's PID; prints the
    weights' path last."""
    from rftlib.core.errors import RftError
    from rftlib.training.upstream import pretrain

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1:
        die_with_parent(int(argv[1]))
    try:
        print(pretrain(progress=False, **json.loads(argv[0])))
    except RftError as error:  # one line for the runs that needed it, not a traceback
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
