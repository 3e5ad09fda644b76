#!/usr/bin/env python
"""What a sweep job's kernel costs beside its science: papermill executing a notebook that imports what a
run notebook imports (torch, timm, pandas, seaborn, rftlib's training loop), with the kernel shut down
gracefully (nbclient's default) against at once (what ``rftlib.sweep.execute`` asks for), in alternating
rounds of one run so that both see the same machine. Prints one JSON object: per variant the median wall
and CPU seconds (this process's children: the kernel) and each one's ratio to the graceful peer.

    .venv/bin/python benchmarks/notebook_jobs.py --rounds 5
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = "import torch, timm, pandas, seaborn, matplotlib.pyplot\nimport rftlib.training\nfrom rftlib import figures"
VARIANTS = ("graceful", "immediate")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernel", default="rftlib")
    args = parser.parse_args(argv)

    import nbformat
    import papermill

    folder = Path(tempfile.mkdtemp(prefix="rft-jobs-"))
    notebook = folder / "imports.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(IMPORTS)]), notebook)
    times: dict[str, dict[str, list[float]]] = {v: {"wall": [], "cpu": []} for v in VARIANTS}
    for round_ in range(args.rounds):
        for variant in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
            wall, cpu = time.perf_counter(), children_cpu()
            papermill.execute_notebook(str(notebook), str(folder / f"{variant}.ipynb"), kernel_name=args.kernel,
                                       progress_bar=False, shutdown_kernel=variant)
            times[variant]["wall"].append(time.perf_counter() - wall)
            times[variant]["cpu"].append(children_cpu() - cpu)
    medians = {v: {k: statistics.median(t) for k, t in kinds.items()} for v, kinds in times.items()}
    print(json.dumps({"rounds": args.rounds, "seconds": times, "median": medians,
                      "immediate_over_graceful": {k: medians["immediate"][k] / medians["graceful"][k]
                                                  for k in ("wall", "cpu")}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
