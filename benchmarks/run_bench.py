#!/usr/bin/env python
"""Run the rftlib benchmark: the same as ``rft bench``, with the same options.

    .venv/bin/python benchmarks/run_bench.py --quick --json /tmp/bench.json   # CI-sized
    .venv/bin/python benchmarks/run_bench.py --device cpu --batch 32          # BENCHMARKS.md's CPU figures
    .venv/bin/python benchmarks/run_bench.py                                  # on a GPU: ViT-B/16, 224 px

The logic lives in :mod:`rftlib.bench`; see BENCHMARKS.md for what is measured and the figures.
"""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the benchmark builds models without weights
    from rftlib.cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))
