"""``rft bench``: where the study spends its time, measured against its peers in one run.

In one run, on the same model, data, eps, steps and batch:

1. PGD throughput (images/s) of rftlib against ``torchattacks.PGD`` (fp32, the reference), with both
   robust accuracies side by side (module :mod:`.pgd`);
2. rftlib's PGD in fp32, tf32 (CUDA) and bf16 autocast, each with and without ``torch.compile``, and
   rows that isolate one lever each (input-only gradients, fused attention, early stop);
3. fine-tuning step throughput of each of the seven strategies (:mod:`.train`);
4. FLOPs counted with ``torch.utils.flop_counter`` (:mod:`.flops`), the achieved FLOP/s, and its
   fraction of the matmul peak measured in the same run (bf16 on CUDA, fp32 on CPU; :mod:`.timing`).

It prints the tables and the issue's targets, and writes a JSON record that
:func:`estimate_run_seconds` (the hook of ``rft sweep --dry-run``) reads. See BENCHMARKS.md.

Examples::

    rft bench --quick --json /tmp/bench.json        # CI-sized, seconds
    rft bench --device cpu --batch 32               # the CPU figures of BENCHMARKS.md
    rft bench                                       # on a GPU: ViT-B/16 at 224 px, batch 256

May use: every room below it (core ... sweep).
"""
from rftlib.bench.command import command, configure_parser, resolve, run_bench
from rftlib.bench.estimate import DEFAULT_JSON, estimate_run_seconds

__all__ = ["DEFAULT_JSON", "command", "configure_parser", "estimate_run_seconds", "resolve", "run_bench"]
